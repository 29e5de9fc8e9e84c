"""The broker contract, implemented once on top of a Redis-compatible client.

Every operation is one spinach-lua script call (or a pipeline of them), built by name through
spinach.contract; Python only decides policy. RedisBroker and MemoryBroker differ only by the
client they hold. The client side (sending, inspection) is written once in spinach.operations
and shared with the asyncio client; this class runs it on redis-py.
"""

import logging
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import redis
from redis.cluster import RedisCluster

from spinach import const, operations, workflow_ops
from spinach.contract import (
    ExpireRecordsReply,
    FetchReply,
    FinishReply,
    PeriodicControlReply,
    ProgressReply,
    RegisterPeriodicReply,
    RegisterWorkerReply,
    ReleaseReply,
    RenewReply,
    SetLimitsReply,
    TickReply,
    call,
)
from spinach.inspection import RECORD_FIELDS, CancelResult, JobInfo
from spinach.keys import (
    QueueKeys,
    cancel_channel,
    namespace_patterns,
    queue_keys,
    validate_namespace,
)
from spinach.operations import ENQUEUE_CHUNK, PAGE_STATES, PeriodicInfo
from spinach.operations import text as _text
from spinach.protocol import (
    FetchedJob,
    FetchResult,
    FinishResult,
    Lease,
    Outcome,
    PreparedJob,
    QueueStats,
    RenewResult,
    WorkerInfo,
    encode_worker_info,
)
from spinach.redis_clock import RedisClock
from spinach.retention import Retention
from spinach.retrying import Backoff, retry
from spinach.sansio import Op, Request, Script, Scripts, Steps
from spinach.scripts import ScriptRunner

logger = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["ENQUEUE_CHUNK", "PAGE_STATES", "Broker", "PeriodicInfo"]

#: Longest single wait of an idle worker on Redis. Wake-ups are pushed, so this only bounds how
#: long a worker goes without checking in; shorter costs idle round trips, longer nothing else.
MAX_BLOCK_SECONDS = 5.0

#: Most expired leases one call takes back; the rest wait for the next call.
RECOVER_LIMIT = 100


def _fetched(job_id: bytes, raw: bytes, lease: bytes) -> FetchedJob:
    """A fetched job from its record as it was stored (see spinach_lua's record include)."""
    state, _, envelope = raw.partition(b"\x01")
    fields = state.split(b"\0", 2)  # the first two fields: r and x
    retries = int(fields[0]) if fields[0].isdigit() else 0
    abandoned = len(fields) > 1 and fields[1] == b"1"
    cancelled = False
    if abandoned:  # rare: was it a job cancelled while it ran? (recovery marks those so too)
        every = state.split(b"\0")
        cancelled = len(every) > _CANCEL_FIELD and every[_CANCEL_FIELD] != b""
    return FetchedJob(
        job_id.decode(), envelope or None, retries, lease.decode(), abandoned, cancelled
    )


_CANCEL_FIELD = RECORD_FIELDS.index("cn")


def _outcome_args(outcomes: Iterable[tuple[Outcome, str]]) -> list[Any]:
    args: list[Any] = []
    for (op, job_id, when, error, traceback, result), token in outcomes:
        args += (op, job_id, token, when, result or error, traceback)
    return args


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
        self._schema_checked: set[str] = set()
        #: Redis's clock as this client estimates it, per queue (see spinach.redis_clock).
        self.redis_clock = RedisClock()
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

    @property
    def schema_checked(self) -> set[str]:
        """Queues whose schema key this broker found (or made) to be this installation's."""
        return self._schema_checked

    def _keys(self, queue: str) -> QueueKeys:
        """The keys of `queue`, once its data is known to be of this installation's schema."""
        if queue not in self._schema_checked:
            self.check_schema(queue)
        return queue_keys(self.namespace, queue)

    def check_schema(self, queue: str) -> None:
        """Record this installation's schema for `queue` if none is, or refuse another one."""
        self._schema_checked.discard(queue)
        self.run(operations.checked_keys(self, queue))

    def _retention_args(self) -> dict[str, int]:
        keep_done, max_done, keep_failed, max_failed = self.retention.script_args()
        return {
            "keep_done_ms": keep_done,
            "max_done": max_done,
            "keep_failed_ms": keep_failed,
            "max_failed": max_failed,
            "max_results": self.retention.max_results,
        }

    # -- client side: the operations of spinach.operations, run on this broker's client ------

    def run(self, op: Op[T]) -> T:
        """Run a sans-IO operation (see spinach.sansio) on this broker's client."""
        steps = Steps(op)
        while (request := steps.request) is not None:
            try:
                reply = self._execute(request)
            except Exception as e:  # noqa: BLE001 (raised in the operation, where it asked)
                steps.fail(e)
            else:
                steps.reply(reply)
        result: T = steps.result
        return result

    def _execute(self, request: Request) -> Any:
        if isinstance(request, Script):
            return self._scripts(request.call)
        if isinstance(request, Scripts):
            calls, durable = request.calls, request.durable
            if not request.retried:
                return self._scripts.many(calls, durable)
            return self._with_retries(request.retried, lambda: self._scripts.many(calls, durable))
        method = getattr(self._r, request.name)
        if request.retried:
            return self._with_retries(
                request.retried, lambda: method(*request.args, **request.kwargs)
            )
        return method(*request.args, **request.kwargs)

    def _with_retries(self, what: str, send: Any) -> Any:
        return retry(
            send,
            what,
            attempts=self.enqueue_job_max_retries + 1,
            backoff=Backoff(*operations.RETRY_BACKOFF),
            log=logger,
        )

    def enqueue(self, jobs: Sequence[PreparedJob]) -> dict[str, str]:
        """Send jobs, one atomic and idempotent script call per queue (and per chunk).

        Retried on connection errors: each call carries a token, so a call whose reply was lost
        is not applied twice. Returns the id of the live job holding the unique key of each job
        not sent for that reason.
        """
        return self.run(operations.enqueue(self, jobs, self._noted_queues))

    def queue_stats(self, queue: str) -> QueueStats:
        """Count the jobs of `queue` by state; say how long its oldest ready job has waited.

        The wait counts from when the job was queued (Redis time; retried from the failed store
        counts as queued again), or from its due time for a scheduled job.
        """
        return self.run(operations.queue_stats(self, queue))

    def oldest_ready_age(self, queue: str, stats: QueueStats | None = None) -> float | None:
        """Seconds the oldest ready job of `queue` has waited to run, if any."""
        return (stats or self.queue_stats(queue)).oldest_ready_age

    def is_queue_empty(self, queue: str) -> bool:
        """Whether `queue` has no job ready to run (kept from Spinach 0.0.25)."""
        return self.queue_stats(queue).ready == 0

    # -- inspection and operations ---------------------------------------------------------

    def _note_queues(self, queues: Iterable[str]) -> None:
        """Add queues to the namespace's list of queues (once per queue and broker)."""
        self.run(operations.note_queues(self, queues, self._noted_queues))

    def known_queues(self) -> list[str]:
        """The queues of this namespace that clients and workers have used, sorted."""
        return self.run(operations.known_queues(self))

    def job_info(self, queue: str, job_id: str) -> JobInfo | None:
        """What `queue` knows of job `job_id`, or None if it does not know it."""
        return self.run(operations.job_info(self, queue, job_id))

    def cancel(self, queue: str, job_id: str) -> CancelResult:
        """Remove job `job_id` from `queue` if it has not started."""
        return self.run(workflow_ops.cancel(self, queue, job_id))

    def run_now(self, queue: str, job_id: str) -> bool:
        """Make a waiting job of `queue` ready now, ahead of the others; False if not waiting."""
        return self.run(operations.run_now(self, queue, job_id))

    def failed_page(self, queue: str, offset: int = 0, limit: int = 50) -> list[JobInfo]:
        """One page of the failed store of `queue`, newest first."""
        return self.run(operations.failed_page(self, queue, offset, limit))

    def job_page(
        self, queue: str, state: str, offset: int = 0, limit: int = 50
    ) -> tuple[list[JobInfo | None], int]:
        """One page of the jobs of `queue` in `state` (see PAGE_STATES), and how many it holds.

        Ready jobs come oldest first, delayed ones soonest first, running ones by lease,
        failed and finished ones newest first. An entry is None where the list still holds
        the id of a job that is gone (cancelled while queued, not met by a fetch yet).
        """
        return self.run(operations.job_page(self, queue, state, offset, limit))

    def retry_failed(
        self,
        queue: str,
        job_ids: Sequence[str] | None = None,
        chunk: int = 1000,
        task: str | None = None,
    ) -> tuple[list[str], list[str]]:
        """Queue failed jobs of `queue` again: `job_ids` in one call, or all (of `task`).

        Returns (retried ids, ids that cannot run again: their payload is unusable). Ids the
        store does not hold are left out of both.
        """
        return self.run(operations.retry_failed(self, queue, job_ids, chunk, task))

    def purge_failed(self, queue: str, chunk: int = 1000, task: str | None = None) -> int:
        """Delete every failed job of `queue` (of `task`) for good, by chunks; say how many."""
        return self.run(operations.purge_failed(self, queue, chunk, task))

    def expire_records(self, queue: str, budget: int = 1000) -> int:
        """Drop finished records and failed jobs of `queue` past their retention; say how many."""
        reply = self._scripts.run(
            ExpireRecordsReply,
            call(
                "expire_records",
                self._keys(queue),
                {**self._retention_args(), "budget": budget},
            ),
        )
        return reply.dropped

    def throughput(self, queue: str, minutes: int = 60) -> tuple[int, list[tuple[int, int, int]]]:
        """Per-minute (succeeded, failed, retried) of `queue`, oldest first, and the first minute.

        Returns (start of the first minute in ms of Redis time, counts per minute).
        """
        return self.run(operations.throughput(self, queue, minutes))

    def limits_in_force(self, queue: str) -> dict[str, int]:
        """Every task of `queue` with a concurrency limit, and the limit."""
        return self.run(operations.limits_in_force(self, queue))

    def limit_sources(self, queue: str) -> tuple[dict[str, int], dict[str, int]]:
        """(limits declared in code, operators' overrides) of the tasks of `queue`."""
        return self.run(operations.limit_sources(self, queue))

    def flush(self) -> None:
        """Delete every key of this namespace (tests and admin only: it scans the keyspace)."""
        self._noted_queues.clear()
        self._schema_checked.clear()
        self.redis_clock.forget()
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
        outcomes: Sequence[tuple[Outcome, str]] = (),
        recover: bool = True,
    ) -> FetchResult:
        """Record `outcomes`, then take up to `max_jobs` ready jobs of `queue` under leases.

        `task_names` are the tasks of the queue the caller knows: the concurrency limits of
        those are enforced. The same call promotes due delayed jobs, and with `recover` takes
        back expired leases. `worker_id` is recorded in the leases (`get_job` tells who runs a
        job). The outcomes (each with its lease token) are fenced as `finish` does.
        """
        k = self._keys(queue)
        reply = self._scripts.run(
            FetchReply,
            call(
                "fetch",
                k,
                {
                    "max_jobs": max_jobs,
                    "lease_ms": lease_ms,
                    "promote_limit": promote_limit,
                    "recover_limit": RECOVER_LIMIT if recover else 0,
                    "worker": worker_id,
                    **self._retention_args(),
                },
                variadic_keys=[k.parked(name) for name in task_names],
                variadic={"tasks": task_names, "outcomes": _outcome_args(outcomes)},
            ),
        )
        jobs = [
            _fetched(job_id, raw, lease)
            for job_id, raw, lease in zip(reply.ids, reply.records, reply.leases, strict=True)
        ]
        return FetchResult(
            jobs=jobs,
            ready_left=reply.ready_left,
            delayed_left=reply.delayed_left,
            next_due_ms=None if reply.next_due_ms < 0 else reply.next_due_ms,
            running_left=reply.running_left,
            next_expiry_ms=None if reply.next_expiry_ms < 0 else reply.next_expiry_ms,
            applied=reply.applied,
            rejected=tuple(_text(job_id) for job_id in reply.rejected),
            held_ready=reply.held_ready,
            signals=reply.signals,
        )

    def finish(self, queue: str, outcomes: Sequence[tuple[Outcome, str]]) -> FinishResult:
        """Record outcomes (each with its lease token); return (applied, rejected ids,
        workflow signals pushed).

        An outcome is rejected when the lease is no longer the caller's (fencing). Succeeded
        jobs leave a record, failed ones go to the failed-job store (see `retention`).
        """
        reply = self._scripts.run(
            FinishReply,
            call(
                "finish",
                self._keys(queue),
                self._retention_args(),
                variadic={"outcomes": _outcome_args(outcomes)},
            ),
        )
        return FinishResult(
            reply.applied, [_text(job_id) for job_id in reply.rejected], reply.signals
        )

    def release(self, queue: str, leases: Sequence[Lease]) -> int:
        """Put fetched jobs that never started back at the head of `queue`, in order."""
        if not leases:
            return 0
        flat: list[Any] = []
        for lease in leases:
            flat += lease
        reply = self._scripts.run(
            ReleaseReply,
            call("release", self._keys(queue), variadic={"leases": flat}),
        )
        return reply.released

    def renew(
        self, queue: str, leases: Sequence[Lease], lease_ms: int, task_names: Sequence[str] = ()
    ) -> RenewResult:
        """Extend the caller's leases on `queue` and take back expired ones (a heartbeat)."""
        k = self._keys(queue)
        flat: list[Any] = []
        for lease in leases:
            flat += lease
        reply = self._scripts.run(
            RenewReply,
            call(
                "renew",
                k,
                {"lease_ms": lease_ms, "recover_limit": RECOVER_LIMIT},
                variadic_keys=[k.parked(name) for name in task_names],
                variadic={"tasks": task_names, "leases": flat},
            ),
        )
        return RenewResult(
            lost=[_text(job_id) for job_id in reply.lost],
            recovered=reply.recovered,
            cancelled=[_text(job_id) for job_id in reply.cancelled],
        )

    def report_progress(self, queue: str, updates: Sequence[tuple[str, str, str]]) -> int:
        """Record (job id, lease token, progress) of running jobs of `queue`; say how many
        applied (an update of a job whose lease is no longer the caller's is dropped)."""
        flat: list[Any] = []
        for update in updates:
            flat += update
        reply = self._scripts.run(
            ProgressReply, call("progress", self._keys(queue), variadic={"updates": flat})
        )
        return reply.applied

    def relay(self, queue: str) -> int:
        """Apply the workflow signals waiting in the outbox of `queue` (and those they set
        off); return how many were applied (see spinach.workflow_ops.relay)."""
        return self.run(workflow_ops.relay(self, queue))

    def register_periodic(
        self, queue: str, periods: Sequence[tuple[str, int]], alive_ms: int
    ) -> int | None:
        """Vouch for periodic tasks (name, period in ms) of `queue` for `alive_ms`.

        Returns the time in ms to the earliest tick of the queue, or None if none is scheduled.
        """
        flat: list[Any] = []
        for name, period_ms in periods:
            flat += (name, period_ms)
        reply = self._scripts.run(
            RegisterPeriodicReply,
            call(
                "register_periodic",
                self._keys(queue),
                {"alive_ms": alive_ms},
                variadic={"tasks": flat},
            ),
        )
        return None if reply.next_due_ms < 0 else reply.next_due_ms

    def tick(self, queue: str, candidates: Sequence[PreparedJob]) -> tuple[int, int | None]:
        """Create the job of each periodic task of `candidates` whose tick is due.

        Each candidate is the job to create for its task if the task is due: its envelope
        names the task. Returns how many were created and the time in ms to the next tick.
        """
        flat: list[Any] = []
        for job in candidates:
            flat += (job.task, job.id, job.max_retries, job.payload)
        reply = self._scripts.run(
            TickReply,
            call("tick", self._keys(queue), variadic={"candidates": flat}),
        )
        return reply.created, None if reply.next_due_ms < 0 else reply.next_due_ms

    def periodic_control(self, queue: str, action: str, names: Sequence[str]) -> int:
        """Remove periodic tasks of `queue` from the schedule ('remove') or allow them back."""
        reply = self._scripts.run(
            PeriodicControlReply,
            call(
                "periodic_control",
                self._keys(queue),
                {"action": action},
                variadic={"names": list(names)},
            ),
        )
        return reply.changed

    def set_limits(
        self, queue: str, source: str, limits: Sequence[tuple[str, int | None]]
    ) -> list[int | None]:
        """Set concurrency limits of tasks of `queue`: the code's ('code') or an operator's
        ('override'; None lifts the override). Returns the limit in force of each task.
        """
        k = self._keys(queue)
        flat: list[Any] = []
        for name, limit in limits:
            flat += (name, limit or 0)
        reply = self._scripts.run(
            SetLimitsReply,
            call(
                "set_limits",
                k,
                {"source": source},
                variadic_keys=[k.parked(name) for name, _ in limits],
                variadic={"pairs": flat},
            ),
        )
        return [int(limit) or None for limit in reply.limits]

    def concurrency(self, queue: str, task: str) -> tuple[int | None, int, int]:
        """(limit in force, jobs running, jobs held back) of a task of `queue`."""
        return self.run(operations.concurrency(self, queue, task))

    def _redis_now_ms(self) -> int:
        return self.run(operations.redis_now_ms())

    def periodic_schedule(self, queue: str) -> dict[str, int]:
        """Each periodic task of `queue` a live worker vouches for, and its next tick (ms)."""
        return {
            info.task: info.next_ms
            for info in self.periodic_tasks(queue)
            if info.alive and info.next_ms is not None
        }

    def periodic_tasks(self, queue: str) -> list[PeriodicInfo]:
        """Every periodic task Redis knows for `queue`: scheduled, or removed by an operator."""
        return self.run(operations.periodic_tasks(self, queue))

    def register_worker(
        self, queue: str, worker_id: str, alive_ms: int, info: WorkerInfo | None
    ) -> int:
        """Vouch for a live worker of `queue` for `alive_ms` ms (0 removes it); count the live."""
        if alive_ms:
            self._noted_queues.discard(queue)  # a heartbeat re-adds it, should it have gone
            self._note_queues([queue])
        described = encode_worker_info(info) if info is not None else b""
        reply = self._scripts.run(
            RegisterWorkerReply,
            call(
                "register_worker",
                self._keys(queue),
                {"worker": worker_id, "alive_ms": alive_ms, "info": described},
            ),
        )
        return reply.live

    def live_workers(self, queue: str) -> list[WorkerInfo]:
        """What the live workers of `queue` say about themselves (with `alive_until_ms`)."""
        return self.run(operations.live_workers(self, queue))

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

    def subscribe_cancels(self) -> Any:
        """A redis-py PubSub subscribed to the cancels of running jobs of this namespace (each
        message: a job id); the caller reads it with ``get_message(timeout=...)``."""
        pubsub = self._r.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(cancel_channel(self.namespace))
        return pubsub

    def wake_cancel_listeners(self) -> None:
        """Publish an empty message on the cancel channel: a stopping listener's wait ends at
        once (every listener of the namespace wakes and ignores it)."""
        self._r.publish(cancel_channel(self.namespace), "")

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
