"""What operators see of a namespace: jobs, failed jobs, queues, workers, periodic tasks, limits.

These are plain, immutable snapshots read from Redis; the `spinach` command prints them and
`--json` emits them as they are (`as_json`).
"""

import enum
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from spinach.envelope import decode
from spinach.job import JobStatus

#: Longest error text kept with a failed job; a longer message is cut (its start is kept).
MAX_ERROR_CHARS = 4096


def describe_error(error: BaseException) -> str:
    """The text kept with a failed job: "Type: message", cut to MAX_ERROR_CHARS."""
    name = type(error).__qualname__
    module = type(error).__module__
    if module not in ("builtins", "__main__"):
        name = f"{module}.{name}"
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - a broken __str__ must not cost the job its retries
        message = "(its message could not be read)"
    text = f"{name}: {message}" if message else name
    # Redis takes UTF-8: undecodable bytes of file names (surrogates) are written escaped.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:MAX_ERROR_CHARS]


def from_ms(ms: int | float | None) -> datetime | None:
    """A Redis-time millisecond timestamp as an aware UTC datetime (None for 0 or unknown)."""
    if not ms or ms < 0:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


#: What `get_job` says of a job whose worker died running it, until a worker reports it failed.
ABANDONED_ERROR = (
    "spinach.exc.JobAbandonedError: its worker stopped while running it and it may not run "
    "again; a worker is reporting it failed"
)


class CancelResult(enum.Enum):
    """What `Engine.cancel` did. Only CANCELLED is true, so `if spin.cancel(id):` reads well."""

    #: The job was waiting or queued: it is removed and will never start.
    CANCELLED = "cancelled"
    #: A worker is running it: nothing was done (running jobs are not interrupted).
    RUNNING = "running"
    #: It already succeeded, failed or was cancelled.
    FINISHED = "finished"
    #: No queue of the namespace knows this id (never sent, or its record expired).
    NOT_FOUND = "not_found"

    def __bool__(self) -> bool:
        return self is CancelResult.CANCELLED


@dataclass(frozen=True, slots=True)
class JobInfo:
    """One job as Redis knows it now. Times are Redis's clock, in UTC."""

    id: str
    queue: str
    task: str
    status: JobStatus
    #: Runs started so far (the running one included).
    attempts: int
    #: Retries allowed in all; None: without limit.
    max_retries: int | None
    #: When it was queued: sent, or retried from the failed store.
    created_at: datetime | None = None
    #: When a waiting job is due (its first run, or its next retry).
    due_at: datetime | None = None
    #: When its last run started (running and finished jobs).
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: Id of the worker running it, or that ran it last (see `spinach status` for its host).
    worker: str | None = None
    #: Why it failed for good, or for a job waiting for its retry, why its last run failed.
    error_type: str | None = None
    error_message: str | None = None
    #: Its arguments, while they are kept: live jobs and jobs of the failed store.
    args: tuple[Any, ...] | None = None
    kwargs: dict[str, Any] | None = None
    #: Failed jobs only: whether `retry` can run it again (its payload is intact).
    retriable: bool = False


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """Job counts of one queue."""

    name: str
    ready: int
    delayed: int
    running: int
    failed: int
    #: Seconds the oldest ready job has waited since it was sent, None when nothing is ready.
    oldest_ready_age: float | None


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """One live worker process of a queue, as its last heartbeat described it."""

    id: str
    queue: str
    host: str
    pid: int
    threads: int
    jobs_running: int
    started_at: datetime | None
    last_heartbeat: datetime | None


@dataclass(frozen=True, slots=True)
class PeriodicStatus:
    """A periodic task a live worker vouches for, and when it runs next."""

    queue: str
    task: str
    next_run: datetime | None


@dataclass(frozen=True, slots=True)
class LimitStatus:
    """A concurrency limit in force, and its use."""

    queue: str
    task: str
    limit: int
    running: int
    #: Jobs of the task held back by the limit.
    waiting: int


@dataclass(frozen=True, slots=True)
class NamespaceStatus:
    """Everything `spinach status` shows of one namespace."""

    namespace: str
    queues: list[QueueStatus] = field(default_factory=list)
    workers: list[WorkerStatus] = field(default_factory=list)
    periodic: list[PeriodicStatus] = field(default_factory=list)
    limits: list[LimitStatus] = field(default_factory=list)


def as_json(value: Any) -> str:
    """JSON of inspection results (dataclasses, lists of them), datetimes in ISO 8601."""

    def default(obj: Any) -> Any:
        if isinstance(obj, datetime):
            return obj.isoformat()
        if isinstance(obj, enum.Enum):
            return obj.name.lower() if isinstance(obj, JobStatus) else obj.value
        raise TypeError(f"{type(obj).__name__} is not JSON serializable")

    def plain(obj: Any) -> Any:
        if isinstance(obj, list):
            return [plain(item) for item in obj]
        if hasattr(obj, "__dataclass_fields__"):
            return asdict(obj)
        return obj

    return json.dumps(plain(value), default=default, indent=2, sort_keys=False)


# -- records as the scripts store them -------------------------------------------------------

_RECORD_STATES = {"s": JobStatus.SUCCEEDED, "f": JobStatus.FAILED, "c": JobStatus.CANCELLED}


class _Record(msgspec.Struct, array_like=True):
    """[state, task, attempts, created_ms, started_ms, finished_ms, worker, error, max_retries]"""

    state: str
    task: str
    attempts: int
    created: int
    started: int
    finished: int
    worker: str
    error: str
    max_retries: int


_record_decoder = msgspec.json.Decoder(_Record)


def _str(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _split_error(text: str) -> tuple[str | None, str | None]:
    if not text:
        return None, None
    name, sep, message = text.partition(": ")
    return name, (message if sep else "")


def _arguments(envelope: bytes | None) -> tuple[tuple[Any, ...] | None, dict[str, Any] | None]:
    if not envelope:
        return None, None
    try:
        decoded = decode(envelope)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None, None
    return tuple(decoded.args), dict(decoded.kwargs)


def record_info(job_id: str, queue: str, raw: bytes, envelope: bytes | None = None) -> JobInfo:
    """A finished job's record (or a failed-store entry, with its envelope) as a JobInfo."""
    record = _record_decoder.decode(raw)
    error_type, error_message = _split_error(record.error)
    args, kwargs = _arguments(envelope)
    return JobInfo(
        id=job_id,
        queue=queue,
        task=record.task,
        status=_RECORD_STATES.get(record.state, JobStatus.NOT_SET),
        attempts=record.attempts,
        max_retries=None if record.max_retries < 0 else record.max_retries,
        created_at=from_ms(record.created),
        started_at=from_ms(record.started),
        finished_at=from_ms(record.finished),
        worker=record.worker or None,
        error_type=error_type,
        error_message=error_message,
        args=args,
        kwargs=kwargs,
        retriable=record.state == "f" and envelope is not None and args is not None,
    )


def live_info(job_id: str, queue: str, reply: list[Any]) -> JobInfo:
    """A job still in a queue (waiting, queued or running), from the job_state script's reply."""
    envelope, due, started, worker, task, retries, created, budget, abandoned = reply[1:10]
    last_error = _str(reply[10])
    status = JobStatus.QUEUED
    attempts = int(retries)
    if int(started) != 0:
        status = JobStatus.RUNNING
        attempts += 1
    elif int(due) >= 0:
        status = JobStatus.WAITING
    if int(abandoned):  # its worker died running it; the next fetch reports it failed
        status = JobStatus.FAILED
        last_error = ABANDONED_ERROR
    args, kwargs = _arguments(envelope)
    worker_id = _str(worker)
    error_type, error_message = _split_error(last_error)
    return JobInfo(
        id=job_id,
        queue=queue,
        task=_str(task),
        status=status,
        attempts=attempts,
        max_retries=None if int(budget) < 0 else int(budget),
        created_at=from_ms(int(created)),
        due_at=from_ms(int(due)) if status is JobStatus.WAITING else None,
        started_at=from_ms(int(started)),
        worker=worker_id or None,
        error_type=error_type,
        error_message=error_message,
        args=args,
        kwargs=kwargs,
    )
