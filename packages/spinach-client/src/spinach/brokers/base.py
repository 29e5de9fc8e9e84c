"""The broker contract, implemented once on top of a Redis-compatible client.

Every operation is one spinach-lua script call (or a pipeline of them); Python only decides
policy. RedisBroker and MemoryBroker differ only by the client they hold.
"""

import logging
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from spinach import const
from spinach.exc import BrokerConnectionError
from spinach.keys import namespace_patterns, queue_keys, validate_namespace
from spinach.scripts import Call, ScriptRunner

logger = logging.getLogger(__name__)

#: Longest single wait of an idle worker on Redis. Wake-ups are pushed, so this only bounds how
#: long a worker goes without checking in; shorter costs idle round trips, longer nothing else.
MAX_BLOCK_SECONDS = 5.0

#: Most jobs sent in one script call; a larger batch is split, each part still atomic.
ENQUEUE_CHUNK = 10_000

TRANSIENT_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)


class PreparedJob(NamedTuple):
    """A job ready to send: its queue, id, due time and encoded envelope."""

    queue: str
    id: str
    at_ms: int
    delay_ms: int
    payload: bytes


class FetchedJob(NamedTuple):
    """A job handed to a worker: its id, envelope (None if missing) and retries so far."""

    id: str
    payload: bytes | None
    retries: int


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch brought back, and what the queue holds after it."""

    jobs: list[FetchedJob]
    ready_left: int
    delayed_left: int
    #: Milliseconds until the earliest delayed job is due (Redis time), or None if none is.
    next_due_ms: int | None


class Outcome(NamedTuple):
    """One job's result: 's' succeeded, 'f' failed, 'r' retry in `when` ms, 'R' at `when`."""

    op: str
    id: str
    when: int = 0


@dataclass(frozen=True, slots=True)
class QueueStats:
    """How many jobs of a queue are in each state."""

    ready: int
    delayed: int
    running: int


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Broker:
    """Spinach's state machine in a Redis-compatible store."""

    def __init__(
        self,
        client: redis.Redis,
        enqueue_job_max_retries: int = const.DEFAULT_ENQUEUE_JOB_RETRIES,
    ) -> None:
        self._r = client
        self._scripts = ScriptRunner(client)
        self._namespace: str | None = None
        self.enqueue_job_max_retries = enqueue_job_max_retries
        socket_timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
        # A blocking pop must return before the socket gives up on it.
        self.max_block_seconds = (
            MAX_BLOCK_SECONDS
            if not socket_timeout
            else max(0.1, min(MAX_BLOCK_SECONDS, float(socket_timeout) - 1))
        )

    @property
    def namespace(self) -> str:
        if self._namespace is None:
            raise RuntimeError("Broker has no namespace yet: pass it to an Engine first")
        return self._namespace

    @namespace.setter
    def namespace(self, value: str) -> None:
        if self._namespace is not None:
            raise RuntimeError(
                f"This broker already serves namespace {self._namespace!r}: "
                "use one broker per Engine"
            )
        self._namespace = validate_namespace(value)

    def start(self) -> None:
        """Kept for compatibility: brokers need no background thread."""

    def stop(self) -> None:
        """Kept for compatibility: brokers need no background thread."""

    # -- client side -------------------------------------------------------------------------

    def enqueue(self, jobs: Sequence[PreparedJob]) -> None:
        """Send jobs, one atomic and idempotent script call per queue (and per chunk).

        Retried on connection errors: each call carries a token, so a call whose reply was lost
        is not applied twice.
        """
        by_queue: dict[str, list[PreparedJob]] = {}
        for job in jobs:
            by_queue.setdefault(job.queue, []).append(job)
        calls: list[Call] = []
        for queue, queued in by_queue.items():
            keys = queue_keys(self.namespace, queue)
            for start in range(0, len(queued), ENQUEUE_CHUNK):
                args: list[Any] = [const.ENQUEUE_TOKEN_TTL_MS]
                for job in queued[start : start + ENQUEUE_CHUNK]:
                    args += (job.id, job.at_ms, job.delay_ms, job.payload)
                token = keys.enqueue_token(uuid.uuid4().hex)
                calls.append(
                    (
                        "enqueue",
                        (keys.schema, token, keys.ready, keys.delayed, keys.jobs, keys.wake),
                        args,
                    )
                )
        if calls:
            self._with_retries("enqueue", lambda: self._scripts.many(calls))

    def _with_retries(self, what: str, call: Any) -> Any:
        attempt = 0
        while True:
            try:
                return call()
            except TRANSIENT_ERRORS as e:
                attempt += 1
                if attempt > self.enqueue_job_max_retries:
                    raise BrokerConnectionError(
                        f"Could not {what} after {attempt} attempts: {e}. Is Redis reachable?"
                    ) from e
                delay = min(0.05 * 2**attempt, 2.0)
                logger.warning("Retrying %s in %.2fs after: %s", what, delay, e)
                time.sleep(delay / 2 + random.random() * delay / 2)

    def queue_stats(self, queue: str) -> QueueStats:
        """Count the jobs of `queue` by state."""
        keys = queue_keys(self.namespace, queue)
        reply = self._scripts(
            "queue_stats", (keys.schema, keys.ready, keys.delayed, keys.running), ()
        )
        return QueueStats(ready=int(reply[1]), delayed=int(reply[2]), running=int(reply[3]))

    def is_queue_empty(self, queue: str) -> bool:
        """Whether `queue` has no job ready to run (kept from Spinach 0.0.25)."""
        return self.queue_stats(queue).ready == 0

    def flush(self) -> None:
        """Delete every key of this namespace (tests and admin only: it scans the keyspace)."""
        for pattern in namespace_patterns(self.namespace):
            batch = []
            for key in self._r.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    self._r.delete(*batch)
                    batch = []
            if batch:
                self._r.delete(*batch)

    # -- worker side -------------------------------------------------------------------------

    def fetch(
        self, queue: str, max_jobs: int, lease_ms: int, promote_limit: int = 1000
    ) -> FetchResult:
        """Promote due jobs of `queue`, then take up to `max_jobs` ready ones under a lease."""
        keys = queue_keys(self.namespace, queue)
        reply = self._scripts(
            "fetch",
            (
                keys.schema,
                keys.ready,
                keys.delayed,
                keys.running,
                keys.jobs,
                keys.retries,
                keys.wake,
            ),
            (max_jobs, lease_ms, promote_limit),
        )
        ids, payloads, retries = reply[1], reply[2], reply[3]
        jobs = [
            FetchedJob(_text(job_id), payload if payload else None, int(retry))
            for job_id, payload, retry in zip(ids, payloads, retries, strict=True)
        ]
        next_due = int(reply[6])
        return FetchResult(
            jobs=jobs,
            ready_left=int(reply[4]),
            delayed_left=int(reply[5]),
            next_due_ms=None if next_due < 0 else next_due,
        )

    def finish(self, queue: str, outcomes: Iterable[Outcome]) -> tuple[int, int]:
        """Record outcomes of jobs of `queue`; return (applied, stale) counts."""
        keys = queue_keys(self.namespace, queue)
        args: list[Any] = []
        for outcome in outcomes:
            args += outcome
        reply = self._scripts(
            "finish",
            (keys.schema, keys.running, keys.jobs, keys.retries, keys.delayed, keys.wake),
            args,
        )
        return int(reply[1]), int(reply[2])

    def release(self, queue: str, job_ids: Sequence[str]) -> int:
        """Put fetched jobs that never started back at the head of `queue`, in order."""
        if not job_ids:
            return 0
        keys = queue_keys(self.namespace, queue)
        reply = self._scripts(
            "release", (keys.schema, keys.running, keys.ready, keys.wake), job_ids
        )
        return int(reply[1])

    def wait_for_wake(self, queue: str, worker_id: str, timeout: float) -> bool:
        """Block until `queue` or this worker gets a wake-up token, or `timeout` seconds pass."""
        keys = queue_keys(self.namespace, queue)
        timeout = max(0.01, min(timeout, self.max_block_seconds))
        return self._r.blpop([keys.wake, keys.worker_wake(worker_id)], timeout=timeout) is not None

    def wake_worker(self, queue: str, worker_id: str) -> None:
        """Wake one worker's blocked fetcher (its private list expires if nobody pops it)."""
        key = queue_keys(self.namespace, queue).worker_wake(worker_id)
        pipe = self._r.pipeline(transaction=False)
        pipe.rpush(key, "1")
        pipe.pexpire(key, 60_000)
        pipe.execute()

    def clear_worker_wake(self, queue: str, worker_id: str) -> None:
        """Delete a stopped worker's private wake-up list."""
        self._r.delete(queue_keys(self.namespace, queue).worker_wake(worker_id))

    def close(self) -> None:
        """Close the connections of the client this broker holds."""
        self._r.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} namespace={self._namespace!r}>"
