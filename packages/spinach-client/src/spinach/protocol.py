"""What the client and the worker exchange through a broker: the types of the worker's side.

The worker imports these and the `QueueBackend` protocol, never the brokers themselves, so
that the broker is an implementation detail of the client package.
"""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import msgspec


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
    #: Its unique key ("": none) and how it holds it (spinach.unique.UniqueRule.wire).
    unique_key: str = ""
    unique_rule: str = ""
    #: Its priority in its queue: higher first, 0 the default.
    priority: int = 0
    #: ms between two starts under its task's rate limit (spinach.rate.RateLimit.wire; "":
    #: none), and the key the limit counts it under ("": the task's own).
    rate_interval: str = ""
    rate_key: str = ""
    #: How long its result is kept once it ends, in ms (0: it stores none).
    result_ttl_ms: int = 0


class FetchedJob(NamedTuple):
    """A job handed to a worker: its id, envelope (None if missing), retries so far, lease."""

    id: str
    payload: bytes | None
    retries: int
    token: str = ""
    #: Its worker died mid-run and it may not run again: report it failed, do not run it.
    abandoned: bool = False
    #: Abandoned because its cancel was asked for while it ran: report it cancelled.
    cancelled: bool = False


class Outcome(NamedTuple):
    """One job's result: 's' succeeded, 'f' failed, 'r' retry in `when` ms, 'R' at `when`.

    'S' is a success whose return value is kept for `when` ms (`result`, its JSON). 'F' is a
    failure of a job whose payload cannot be decoded: it is kept in the failed-job store to be
    read, not to be run again.
    """

    op: str
    id: str
    when: int = 0
    #: Why the run failed ("Type: message"): kept with a retried job until its next run, and
    #: with a job that failed for good in the failed-job store.
    error: str = ""
    #: The traceback of the failed run (bounded), kept beside the error.
    traceback: str = ""
    #: With 'S': the return value as JSON.
    result: bytes = b""


class Lease(NamedTuple):
    """A fetched job this worker holds: its id and the fencing token of its lease."""

    id: str
    token: str


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
    #: Outcomes sent along with the fetch that were applied.
    applied: int = 0
    #: Ids whose outcome sent along was rejected: this worker's lease on them is gone.
    rejected: tuple[str, ...] = ()
    #: While the queue is paused or at its running limit, the jobs ready to start once it is
    #: resumed or a slot frees (else 0).
    held_ready: int = 0
    #: Workflow signals the outcomes pushed on the queue's outbox (the worker relays them).
    signals: int = 0

    @property
    def next_wake_ms(self) -> int | None:
        """When an idle worker should look again by itself: a job due, or a lease expiring."""
        times = [t for t in (self.next_due_ms, self.next_expiry_ms) if t is not None]
        return min(times) if times else None


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
    #: Seconds the oldest ready job has waited to run (Redis time), None when none is ready.
    oldest_ready_age: float | None = None
    #: An operator paused the queue: its workers start none of its jobs until it is resumed.
    paused: bool = False
    #: Most jobs of the queue that may run at once across every worker (None: no limit).
    max_running: int | None = None


class FinishResult(NamedTuple):
    """What recording outcomes did: how many applied, which were rejected (fencing), and
    how many workflow signals they pushed on the queue's outbox."""

    applied: int
    rejected: list[str]
    signals: int = 0


@dataclass(frozen=True, slots=True)
class RenewResult:
    """What a lease renewal found."""

    #: The leases the caller no longer holds.
    lost: list[str]
    #: Expired leases of dead workers taken back by the same call.
    recovered: int = 0
    #: Jobs of the caller whose cancel was asked for: the caller stops them.
    cancelled: list[str] = dataclasses.field(default_factory=list)


class RunningJob(msgspec.Struct, frozen=True):
    """What one thread of a worker runs now, as its heartbeat reports it."""

    job_id: str
    task: str
    thread: str
    #: When it started, ms since the epoch by the worker's clock.
    started_ms: int


class WorkerInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a worker's heartbeat says about it in the registry (JSON in Redis)."""

    id: str
    host: str = ""
    pid: int = 0
    queue: str = ""
    threads: int = 0
    version: str = ""
    started_at_ms: int = 0
    jobs_running: int = 0
    #: How long one heartbeat vouches for the worker.
    alive_ms: int = 0
    #: Each task's retry budget (max_retries, None without limit): `spinach doctor` compares them.
    tasks: dict[str, int | None] = {}
    #: The periodic tasks it declares.
    periodic: tuple[str, ...] = ()
    running: tuple[RunningJob, ...] = ()
    #: Until when its last heartbeat vouches for it, ms of Redis time (set when read back).
    alive_until_ms: int = 0


class QueueBackend(Protocol):
    """What a worker needs of a broker: the state machine's worker side, and wake-ups."""

    @property
    def namespace(self) -> str: ...

    max_block_seconds: float

    def check_schema(self, queue: str) -> None: ...

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
    ) -> FetchResult: ...

    def finish(self, queue: str, outcomes: Sequence[tuple[Outcome, str]]) -> FinishResult: ...

    def release(self, queue: str, leases: Sequence[Lease]) -> int: ...

    def report_progress(self, queue: str, updates: Sequence[tuple[str, str, str]]) -> int: ...

    def relay(self, queue: str) -> int: ...

    def renew(
        self, queue: str, leases: Sequence[Lease], lease_ms: int, task_names: Sequence[str] = ()
    ) -> RenewResult: ...

    def expire_records(self, queue: str, budget: int = 1000) -> int: ...

    def register_worker(
        self, queue: str, worker_id: str, alive_ms: int, info: WorkerInfo | None
    ) -> int: ...

    def live_workers(self, queue: str) -> list[WorkerInfo]: ...

    def register_periodic(
        self, queue: str, periods: Sequence[tuple[str, int]], alive_ms: int
    ) -> int | None: ...

    def tick(self, queue: str, candidates: Sequence[PreparedJob]) -> tuple[int, int | None]: ...

    def set_limits(
        self, queue: str, source: str, limits: Sequence[tuple[str, int | None]]
    ) -> list[int | None]: ...

    def wait_for_wake(self, queue: str, worker_id: str, timeout: float) -> bool: ...

    def wake_worker(self, queue: str, worker_id: str) -> None: ...

    def clear_worker_wake(self, queue: str, worker_id: str) -> None: ...

    def subscribe_cancels(self) -> Any: ...

    def wake_cancel_listeners(self) -> None: ...

    def ping(self) -> None: ...

    def queue_stats(self, queue: str) -> "QueueStats": ...

    def close(self) -> None: ...


def encode_worker_info(info: WorkerInfo) -> bytes:
    """The registry's stored form of a worker's description."""
    return _info_encoder.encode(info)


def decode_worker_info(raw: bytes | str, alive_until_ms: int) -> WorkerInfo | None:
    """A worker's description read back from the registry (None if unreadable)."""
    try:
        info = _info_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return msgspec.structs.replace(info, alive_until_ms=alive_until_ms)


_info_encoder = msgspec.json.Encoder()
_info_decoder: "msgspec.json.Decoder[WorkerInfo]" = msgspec.json.Decoder(WorkerInfo)
