"""The broker contract, implemented once on top of a Redis-compatible client.

Every operation is one spinach-lua script call (or a pipeline of them); Python only decides
policy. RedisBroker and MemoryBroker differ only by the client they hold.
"""

import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import redis
from redis.cluster import RedisCluster
from redis.exceptions import OutOfMemoryError

from spinach import const
from spinach.envelope import decode
from spinach.exc import BrokerFullError
from spinach.inspection import CancelResult, JobInfo, live_info, record_info
from spinach.keys import namespace_patterns, queue_keys, queues_key, validate_namespace
from spinach.retention import Retention
from spinach.retrying import TRANSIENT_ERRORS, Backoff, retry
from spinach.scripts import Call, ScriptRunner

logger = logging.getLogger(__name__)

#: Longest single wait of an idle worker on Redis. Wake-ups are pushed, so this only bounds how
#: long a worker goes without checking in; shorter costs idle round trips, longer nothing else.
MAX_BLOCK_SECONDS = 5.0

#: Most jobs sent in one script call; a larger batch is split, each part still atomic.
ENQUEUE_CHUNK = 10_000


#: Most expired leases one call takes back; the rest wait for the next call.
RECOVER_LIMIT = 100


class PreparedJob(NamedTuple):
    """A job ready to send: its queue, id, due time, retry budget and encoded envelope."""

    task: str
    queue: str
    id: str
    at_ms: int
    delay_ms: int
    #: 0: at most once; n > 0: may run n more times; -1: without limit.
    max_retries: int
    payload: bytes


class FetchedJob(NamedTuple):
    """A job handed to a worker: its id, envelope (None if missing), retries so far, lease token."""

    id: str
    payload: bytes | None
    retries: int
    token: str = ""
    #: Its worker died mid-run and it may not run again: report it failed, do not run it.
    abandoned: bool = False


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch brought back, and what the queue holds after it."""

    jobs: list[FetchedJob]
    ready_left: int
    #: -1 (unknown) when ready_left > 0, as are the running and next-time figures below: a
    #: worker that still has jobs to take does not sleep, so the fetch skips their cost.
    delayed_left: int
    #: Milliseconds until the earliest delayed job is due (Redis time), or None if none is.
    next_due_ms: int | None
    #: Jobs of the queue running anywhere (this fetch's included).
    running_left: int = 0
    #: Milliseconds until the earliest lease deadline of a running job, or None if none runs.
    next_expiry_ms: int | None = None

    @property
    def next_wake_ms(self) -> int | None:
        """When an idle worker should look again by itself: a job due, or a lease expiring."""
        times = [t for t in (self.next_due_ms, self.next_expiry_ms) if t is not None]
        return min(times) if times else None


@dataclass(frozen=True, slots=True)
class RenewResult:
    """What a lease renewal found: the leases the caller no longer holds."""

    lost: list[str]


class Outcome(NamedTuple):
    """One job's result: 's' succeeded, 'f' failed, 'r' retry in `when` ms, 'R' at `when`.

    'F' is a failure of a job whose payload cannot be decoded: it is kept in the failed-job
    store to be read, not to be run again.
    """

    op: str
    id: str
    when: int = 0
    #: Why the run failed ("Type: message"): kept with a retried job until its next run, and
    #: with a job that failed for good in the failed-job store.
    error: str = ""


class Lease(NamedTuple):
    """A fetched job this worker holds: its id and the fencing token of its lease."""

    id: str
    token: str


@dataclass(frozen=True, slots=True)
class QueueStats:
    """How many jobs of a queue are in each state."""

    ready: int
    delayed: int
    running: int
    #: Id of the job at the head of the ready list (the oldest ready one), if any.
    oldest_ready_id: str | None = None
    #: Jobs in the failed-job store.
    failed: int = 0


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _meta(job: PreparedJob, task_number: int) -> str:
    """The enqueue script's compact form of a job's task, due time and retry budget."""
    if job.at_ms == job.delay_ms == job.max_retries == 0:
        return str(task_number)
    return f"{task_number}:{job.at_ms}:{job.delay_ms}:{job.max_retries}"


class Broker:
    """Spinach's state machine in a Redis-compatible store."""

    def __init__(
        self,
        client: "redis.Redis | RedisCluster",
        enqueue_job_max_retries: int = const.DEFAULT_ENQUEUE_JOB_RETRIES,
        wait_for_replicas: int = 0,
        wait_timeout_ms: int = 1000,
    ) -> None:
        if wait_for_replicas and isinstance(client, RedisCluster):
            raise ValueError("wait_for_replicas is not available on Redis Cluster")
        self._r: Any = client
        self._scripts = ScriptRunner(client, wait_for_replicas, wait_timeout_ms)
        self._namespace: str | None = None
        #: What finished jobs leave in Redis, and for how long (set by `Engine(retention=)`).
        self.retention = Retention()
        self._noted_queues: set[str] = set()
        self.enqueue_job_max_retries = enqueue_job_max_retries
        socket_timeout = client.get_connection_kwargs().get("socket_timeout")
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

    @property
    def client(self) -> Any:
        """The redis-py client this broker holds (admin tools read server settings through it)."""
        return self._r

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
        self._note_queues(by_queue)
        calls: list[Call] = []
        for queue, queued in by_queue.items():
            keys = queue_keys(self.namespace, queue)
            for start in range(0, len(queued), ENQUEUE_CHUNK):
                chunk = queued[start : start + ENQUEUE_CHUNK]
                numbers: dict[str, int] = {}
                for job in chunk:
                    numbers.setdefault(job.task, len(numbers) + 1)
                args: list[Any] = [const.ENQUEUE_TOKEN_TTL_MS, len(numbers), *numbers]
                for job in chunk:
                    args += (job.id, _meta(job, numbers[job.task]), job.payload)
                token = keys.enqueue_token(uuid.uuid4().hex)
                call_keys = (
                    keys.schema, token, keys.ready, keys.delayed, keys.jobs, keys.wake, keys.budget,
                    keys.tasks, keys.limits, keys.created,
                    *(keys.parked(name) for name in numbers),
                )  # fmt: skip
                calls.append(("enqueue", call_keys, args))
        if calls:
            try:
                self._with_retries("enqueue", lambda: self._scripts.many(calls, durable=True))
            except OutOfMemoryError as e:
                raise BrokerFullError(
                    f"Redis is out of memory and refuses new jobs ({e}); nothing was enqueued. "
                    "Raise maxmemory, or let workers drain the queues."
                ) from None

    def _with_retries(self, what: str, call: Any) -> Any:
        return retry(
            call,
            what,
            attempts=self.enqueue_job_max_retries + 1,
            backoff=Backoff(first=0.1, cap=2.0),
            log=logger,
        )

    def queue_stats(self, queue: str) -> QueueStats:
        """Count the jobs of `queue` by state."""
        keys = queue_keys(self.namespace, queue)
        reply = self._scripts(
            "queue_stats",
            (keys.schema, keys.ready, keys.delayed, keys.running, keys.failed_index),
            (),
        )  # fmt: skip
        oldest = reply[4] or None
        return QueueStats(
            ready=int(reply[1]),
            delayed=int(reply[2]),
            running=int(reply[3]),
            oldest_ready_id=None if oldest is None else _text(oldest),
            failed=int(reply[5]),
        )

    def oldest_ready_age(self, queue: str, stats: QueueStats | None = None) -> float | None:
        """Seconds the oldest ready job of `queue` has waited to run, if any.

        Counted from when it was queued (Redis time; retried from the failed store counts as
        queued again), or from its due time for a scheduled job, to now on Redis's clock.
        """
        stats = stats or self.queue_stats(queue)
        if stats.oldest_ready_id is None:
            return None
        k = queue_keys(self.namespace, queue)
        payload = self._r.hget(k.jobs, stats.oldest_ready_id)
        if not payload:
            return None
        queued = self._r.hget(k.created, stats.oldest_ready_id)
        seconds, micros = self._r.time()
        envelope = decode(payload)
        since = max(int(queued) if queued else envelope.created, envelope.at)
        return max(0.0, (int(seconds) * 1000 + int(micros) // 1000 - since) / 1000)

    def is_queue_empty(self, queue: str) -> bool:
        """Whether `queue` has no job ready to run (kept from Spinach 0.0.25)."""
        return self.queue_stats(queue).ready == 0

    # -- inspection and operations ---------------------------------------------------------

    def _note_queues(self, queues: Iterable[str]) -> None:
        """Add queues to the namespace's list of queues (once per queue and broker)."""
        new = [queue for queue in queues if queue not in self._noted_queues]
        if not new:
            return
        try:
            self._r.sadd(queues_key(self.namespace), *new)
        except (*TRANSIENT_ERRORS, OutOfMemoryError):
            return  # noted by a later call; the caller's own call reports the outage
        self._noted_queues.update(new)

    def known_queues(self) -> list[str]:
        """The queues of this namespace that clients and workers have used, sorted."""
        found = self._r.sscan_iter(queues_key(self.namespace), count=1000)
        return sorted({_text(queue) for queue in found})

    def job_info(self, queue: str, job_id: str) -> JobInfo | None:
        """Where job `job_id` is in `queue`, or None if the queue does not know it."""
        k = queue_keys(self.namespace, queue)
        reply = self._scripts(
            "job_state",
            (k.schema, k.jobs, k.delayed, k.leases, k.tasks, k.retries, k.created, k.budget,
             k.done, k.failed, k.failed_jobs, k.abandoned, k.errors),
            (job_id,),
        )  # fmt: skip
        kind = _text(reply[1])
        if kind == "live":
            return live_info(job_id, queue, reply[1:])
        if kind == "failed":
            return record_info(job_id, queue, reply[2], reply[3] or None)
        if kind == "done":
            return record_info(job_id, queue, reply[2])
        return None

    def cancel(self, queue: str, job_id: str) -> CancelResult:
        """Remove job `job_id` from `queue` if it has not started."""
        k = queue_keys(self.namespace, queue)
        finished_ms, max_finished, _, _ = self.retention.script_args()
        reply = self._scripts(
            "cancel",
            (k.schema, k.jobs, k.delayed, k.leases, k.tasks, k.budget, k.retries, k.created,
             k.abandoned, k.cancelled, k.done, k.done_index, k.failed, k.errors),
            (job_id, finished_ms, max_finished),
        )  # fmt: skip
        outcome = _text(reply[1])
        return CancelResult.NOT_FOUND if outcome == "unknown" else CancelResult(outcome)

    def failed_page(self, queue: str, offset: int = 0, limit: int = 50) -> list[JobInfo]:
        """One page of the failed store of `queue`, newest first."""
        k = queue_keys(self.namespace, queue)
        reply = self._scripts(
            "failed_page", (k.schema, k.failed, k.failed_jobs, k.failed_index), (offset, limit)
        )
        return [
            record_info(_text(job_id), queue, record, envelope or None)
            for job_id, record, envelope in zip(reply[1], reply[2], reply[3], strict=True)
            if record
        ]

    def retry_failed(
        self, queue: str, job_ids: Sequence[str] | None = None, chunk: int = 1000
    ) -> tuple[list[str], list[str]]:
        """Queue failed jobs of `queue` again: `job_ids` in one call, or all of them by chunks.

        Returns (retried ids, ids that cannot run again: their payload was not kept). Ids the
        store does not hold are left out of both.
        """
        k = queue_keys(self.namespace, queue)
        call_keys = (
            k.schema, k.failed, k.failed_jobs, k.failed_index, k.jobs, k.tasks, k.budget,
            k.retries, k.created, k.ready, k.wake, k.cancelled,
        )  # fmt: skip
        retried: list[str] = []
        unretriable: list[str] = []
        if job_ids is not None:
            reply = self._scripts("failed_retry", call_keys, ("ids", 0, 0, *job_ids))
            return [_text(i) for i in reply[1]], [_text(i) for i in reply[3]]
        while True:  # chunk by chunk, oldest first, skipping what cannot run again
            reply = self._scripts("failed_retry", call_keys, ("all", len(unretriable), chunk))
            retried += map(_text, reply[1])
            unretriable += map(_text, reply[3])
            if not reply[1] and not reply[3]:
                return retried, unretriable

    def purge_failed(self, queue: str, chunk: int = 1000) -> int:
        """Delete every failed job of `queue` for good, by chunks; return how many."""
        k = queue_keys(self.namespace, queue)
        call_keys = (k.schema, k.failed, k.failed_jobs, k.failed_index)
        deleted = 0
        while True:
            count = int(self._scripts("failed_purge", call_keys, (chunk,))[1])
            deleted += count
            if count == 0:
                return deleted

    def expire_records(self, queue: str, budget: int = 1000) -> int:
        """Drop finished records and failed jobs of `queue` past their retention; say how many."""
        k = queue_keys(self.namespace, queue)
        reply = self._scripts(
            "expire_records",
            (k.schema, k.done, k.done_index, k.failed, k.failed_jobs, k.failed_index),
            (*self.retention.script_args(), budget),
        )
        return int(reply[1])

    def limits_in_force(self, queue: str) -> dict[str, int]:
        """Every task of `queue` with a concurrency limit, and the limit."""
        found = self._r.hscan_iter(queue_keys(self.namespace, queue).limits, count=1000)
        return {_text(task): int(limit) for task, limit in found}

    def flush(self) -> None:
        """Delete every key of this namespace (tests and admin only: it scans the keyspace)."""
        self._noted_queues.clear()
        for pattern in namespace_patterns(self.namespace):
            # One key per DEL: on a cluster the keys of a namespace live on several nodes.
            for key in list(self._r.scan_iter(match=pattern, count=1000)):
                self._r.delete(key)

    # -- worker side -------------------------------------------------------------------------

    def fetch(
        self,
        queue: str,
        max_jobs: int,
        lease_ms: int,
        task_names: Sequence[str] = (),
        promote_limit: int = 1000,
        *,
        worker_id: str = "",
    ) -> FetchResult:
        """Take up to `max_jobs` ready jobs of `queue` under leases of `lease_ms`.

        `task_names` are the tasks of the queue the caller knows: the concurrency limits of
        those are enforced. The same call promotes due delayed jobs and takes back expired
        leases. `worker_id` is recorded in the leases (`get_job` tells who runs a job).
        """
        k = queue_keys(self.namespace, queue)
        reply = self._scripts(
            "fetch",
            (k.schema, k.ready, k.delayed, k.running, k.jobs, k.retries, k.wake, k.leases,
             k.budget, k.lease_seq, k.tasks, k.limits, k.limited_running, k.abandoned,
             k.cancelled, *(k.parked(name) for name in task_names)),
            (max_jobs, lease_ms, promote_limit, RECOVER_LIMIT, worker_id, len(task_names),
             *task_names),
        )  # fmt: skip
        ids, payloads, retries, tokens, abandoned = (
            reply[1], reply[2], reply[3], reply[4], reply[8],
        )  # fmt: skip
        jobs = [
            FetchedJob(_text(job_id), payload or None, int(retry), _text(token), flag == 1)
            for job_id, payload, retry, token, flag in zip(
                ids, payloads, retries, tokens, abandoned, strict=True
            )
        ]
        next_due, next_expiry = int(reply[7]), int(reply[10])
        return FetchResult(
            jobs=jobs,
            ready_left=int(reply[5]),
            delayed_left=int(reply[6]),
            next_due_ms=None if next_due < 0 else next_due,
            running_left=int(reply[9]),
            next_expiry_ms=None if next_expiry < 0 else next_expiry,
        )

    def finish(self, queue: str, outcomes: Iterable[tuple[Outcome, str]]) -> tuple[int, list[str]]:
        """Record outcomes (each with its lease token); return (applied, rejected ids).

        An outcome is rejected when the lease is no longer the caller's (fencing). Succeeded
        jobs leave a record, failed ones go to the failed-job store (see `retention`).
        """
        k = queue_keys(self.namespace, queue)
        args: list[Any] = [*self.retention.script_args()]
        for (op, job_id, when, error), token in outcomes:
            args += (op, job_id, token, when, error)
        reply = self._scripts(
            "finish",
            (k.schema, k.running, k.jobs, k.retries, k.delayed, k.wake, k.leases, k.budget,
             k.tasks, k.limited_running, k.abandoned, k.created, k.done, k.done_index, k.failed,
             k.failed_jobs, k.failed_index, k.errors),
            args,
        )  # fmt: skip
        return int(reply[1]), [_text(job_id) for job_id in reply[2]]

    def release(self, queue: str, leases: Sequence[Lease]) -> int:
        """Put fetched jobs that never started back at the head of `queue`, in order."""
        if not leases:
            return 0
        k = queue_keys(self.namespace, queue)
        args: list[Any] = []
        for lease in leases:
            args += lease
        reply = self._scripts(
            "release",
            (k.schema, k.running, k.ready, k.wake, k.leases, k.tasks, k.limited_running),
            args,
        )
        return int(reply[1])

    def renew(
        self, queue: str, leases: Sequence[Lease], lease_ms: int, task_names: Sequence[str] = ()
    ) -> RenewResult:
        """Extend the caller's leases on `queue` and take back expired ones (a heartbeat)."""
        k = queue_keys(self.namespace, queue)
        args: list[Any] = [lease_ms, RECOVER_LIMIT, len(task_names), *task_names]
        for lease in leases:
            args += lease
        reply = self._scripts(
            "renew",
            (k.schema, k.running, k.leases, k.budget, k.retries, k.jobs, k.ready, k.wake,
             k.tasks, k.limits, k.limited_running, k.abandoned,
             *(k.parked(name) for name in task_names)),
            args,
        )  # fmt: skip
        return RenewResult(lost=[_text(job_id) for job_id in reply[1]])

    def register_periodic(
        self, queue: str, periods: Sequence[tuple[str, int]], alive_ms: int
    ) -> int | None:
        """Vouch for periodic tasks (name, period in ms) of `queue` for `alive_ms`.

        Returns the time in ms to the earliest tick of the queue, or None if none is scheduled.
        """
        k = queue_keys(self.namespace, queue)
        args: list[Any] = [alive_ms]
        for name, period_ms in periods:
            args += (name, period_ms)
        reply = self._scripts(
            "register_periodic",
            (k.schema, k.periodic, k.periodic_every, k.periodic_alive, k.periodic_paused),
            args,
        )
        return None if int(reply[1]) < 0 else int(reply[1])

    def tick(self, queue: str, candidates: Sequence[PreparedJob]) -> tuple[int, int | None]:
        """Create the job of each periodic task of `candidates` whose tick is due.

        Each candidate is the job to create for its task if the task is due: its envelope
        names the task. Returns how many were created and the time in ms to the next tick.
        """
        k = queue_keys(self.namespace, queue)
        args: list[Any] = []
        for job in candidates:
            args += (job.task, job.id, job.max_retries, job.payload)
        reply = self._scripts(
            "tick",
            (k.schema, k.periodic, k.periodic_every, k.periodic_alive, k.ready, k.jobs, k.wake,
             k.budget, k.tasks, k.created),
            args,
        )  # fmt: skip
        return int(reply[1]), None if int(reply[2]) < 0 else int(reply[2])

    def periodic_control(self, queue: str, action: str, names: Sequence[str]) -> int:
        """Remove periodic tasks of `queue` from the schedule ('remove') or allow them back."""
        k = queue_keys(self.namespace, queue)
        reply = self._scripts(
            "periodic_control",
            (k.schema, k.periodic, k.periodic_every, k.periodic_alive, k.periodic_paused),
            (action, *names),
        )
        return int(reply[1])

    def set_limits(
        self, queue: str, source: str, limits: Sequence[tuple[str, int | None]]
    ) -> list[int | None]:
        """Set concurrency limits of tasks of `queue`: the code's ('code') or an operator's
        ('override'; None lifts the override). Returns the limit in force of each task.
        """
        k = queue_keys(self.namespace, queue)
        args: list[Any] = [source]
        for name, limit in limits:
            args += (name, limit or 0)
        reply = self._scripts(
            "set_limits",
            (k.schema, k.limits, k.limits_code, k.limits_override, k.ready, k.wake,
             *(k.parked(name) for name, _ in limits)),
            args,
        )  # fmt: skip
        return [int(limit) or None for limit in reply[1]]

    def concurrency(self, queue: str, task: str) -> tuple[int | None, int, int]:
        """(limit in force, jobs running, jobs held back) of a task of `queue`."""
        k = queue_keys(self.namespace, queue)
        limit = self._r.hget(k.limits, task)
        running = self._r.zlexcount(k.limited_running, f"[{task}\0", f"({task}\1")
        return (
            (None if limit is None else int(limit)),
            int(running),
            int(self._r.llen(k.parked(task))),
        )

    def periodic_schedule(self, queue: str) -> dict[str, int]:
        """Each periodic task of `queue` a live worker vouches for, and its next tick (ms)."""
        k = queue_keys(self.namespace, queue)
        seconds, micros = self._r.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        alive_names = cast(
            "list[bytes | str]", self._r.zrangebyscore(k.periodic_alive, now_ms, "+inf")
        )
        alive = {_text(name) for name in alive_names}
        entries = cast(
            "list[tuple[bytes | str, float]]", self._r.zrange(k.periodic, 0, -1, withscores=True)
        )
        return {_text(name): int(due) for name, due in entries if _text(name) in alive}

    def register_worker(
        self, queue: str, worker_id: str, alive_ms: int, info: dict[str, Any]
    ) -> int:
        """Vouch for a live worker of `queue` for `alive_ms` ms (0 removes it); count the live."""
        if alive_ms:
            self._noted_queues.discard(queue)  # a heartbeat re-adds it, should it have gone
            self._note_queues([queue])
        k = queue_keys(self.namespace, queue)
        reply = self._scripts(
            "register_worker",
            (k.schema, k.workers, k.workers_info),
            (worker_id, alive_ms, json.dumps(info, sort_keys=True)),
        )
        return int(reply[1])

    def live_workers(self, queue: str) -> list[dict[str, Any]]:
        """What the live workers of `queue` say about themselves.

        Each also gets ``alive_until_ms``: until when its last heartbeat vouches for it (Redis
        time); with the ``alive_ms`` it declares, that dates its last heartbeat.
        """
        k = queue_keys(self.namespace, queue)
        seconds, micros = self._r.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        entries = cast(
            "list[tuple[bytes | str, float]]",
            self._r.zrangebyscore(k.workers, now_ms, "+inf", withscores=True),
        )
        if not entries:
            return []
        found = self._r.hmget(k.workers_info, [worker_id for worker_id, _ in entries])
        workers = []
        for (_, until), raw in zip(entries, found, strict=True):
            if raw:
                info = json.loads(raw)
                info["alive_until_ms"] = int(until)
                workers.append(info)
        return workers

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

    def ping(self) -> None:
        """Raise unless Redis answers."""
        self._r.ping()

    def close(self) -> None:
        """Close the connections of the client this broker holds."""
        client: Any = self._r
        if isinstance(client, RedisCluster):
            # RedisCluster.close() lets go of each node's client but leaves its pool connected.
            for node in client.get_nodes():  # type: ignore[no-untyped-call]
                if node.redis_connection is not None:
                    node.redis_connection.connection_pool.disconnect()
        self._r.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} namespace={self._namespace!r}>"
