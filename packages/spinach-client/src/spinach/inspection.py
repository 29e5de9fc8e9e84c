"""What operators see of a namespace: jobs, failed jobs, queues, workers, periodic tasks, limits.

These are plain, immutable snapshots read from Redis; the `spinach` command prints them and
`--json` emits them as they are (`as_json`).
"""

import enum
import json
import traceback
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from spinach.envelope import decode
from spinach.job import JobStatus
from spinach.running import parse_progress

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
    return _storable(text)[:MAX_ERROR_CHARS]


def _storable(text: str) -> str:
    """`text` as a job record keeps it: valid UTF-8 (undecodable bytes of file names, which
    Python holds as surrogates, written escaped), without the record's separators (the control
    bytes 0 to 3, written escaped too)."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    for byte in ("\0", "\x01", "\x02", "\x03"):
        text = text.replace(byte, repr(byte)[1:-1])
    return text


#: Most traceback text kept with a failed run; a longer one keeps its end (the innermost frames
#: and the exception), where the cause usually is.
MAX_TRACEBACK_CHARS = 8192


def describe_traceback(error: BaseException) -> str:
    """The traceback kept with a failed run, its end when it is longer than the bound."""
    try:
        text = "".join(traceback.format_exception(error))
    except Exception:  # noqa: BLE001 - a broken __str__ or frame must not cost the job its retries
        text = f"(the traceback of {type(error).__qualname__} could not be formatted)"
    text = _storable(text)
    if len(text) > MAX_TRACEBACK_CHARS:
        text = "...\n" + text[-MAX_TRACEBACK_CHARS:]
    return text


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
    #: A worker is running it and is asked to stop it: it ends as cancelled once the worker
    #: stopped it (`Engine.result` or `get_job` tell when), never retried.
    REQUESTED = "requested"
    #: A worker is running it: nothing was done (kept for code written for 0.0.25; Spinach
    #: now asks the worker to stop it and says REQUESTED).
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
    #: The traceback of that failed run (its last lines, when long).
    traceback: str | None = None
    #: Its arguments, while they are kept: live jobs and jobs of the failed store.
    args: tuple[Any, ...] | None = None
    kwargs: dict[str, Any] | None = None
    #: Failed jobs only: whether `retry` can run it again (its payload is intact).
    retriable: bool = False
    #: Its unique key: while it is live, a job sent with the same key is not queued.
    unique_key: str | None = None
    #: For a queued job that cannot start now, what it waits for (`get_job` only): its queue
    #: paused, a free slot of its queue's running limit, or of its task's concurrency limit.
    waiting_for: str | None = None
    #: Its priority in its queue (higher first; 0 the default).
    priority: int = 0
    #: The key its task's rate limit counts it under ("" for the task's own; None: no limit).
    rate_key: str | None = None
    #: Whether it keeps its result (store_result): `Engine.result` can wait for it.
    stores_result: bool = False
    #: How it ended, once its stored result is there ('succeeded', 'failed', 'cancelled'):
    #: None while it has not ended, or once the result expired.
    result_state: str | None = None
    #: What it returned (succeeded, result kept), as JSON data.
    result: Any = None
    #: The workflow it is a step of (see `Engine.get_workflow`), or None.
    workflow: str | None = None
    #: The progress its task reported last (0 to 1, see `Job.report_progress`), its message
    #: and when it was reported; None when it reported none (this run).
    progress: float | None = None
    progress_message: str | None = None
    progress_at: datetime | None = None
    #: When `Engine.cancel` asked its worker to stop it (it was running); None otherwise.
    cancel_requested_at: datetime | None = None


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
    #: Paused by an operator: its workers start none of its jobs until it is resumed.
    paused: bool = False
    #: Most of its jobs that may run at once across every worker (None: no limit).
    max_running: int | None = None


@dataclass(frozen=True, slots=True)
class RunningJob:
    """What one thread of a worker runs, as of the worker's last heartbeat."""

    job_id: str
    task: str
    thread: str
    started_at: datetime | None


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
    #: The spinach-worker version it runs.
    version: str = ""
    #: What its threads run now (as of its last heartbeat).
    running: tuple[RunningJob, ...] = ()


@dataclass(frozen=True, slots=True)
class PeriodicStatus:
    """A periodic task of a queue, and when it runs next."""

    queue: str
    task: str
    #: None while an operator removed it (paused), or while no live worker vouches for it.
    next_run: datetime | None
    period: timedelta | None = None
    #: Removed from the schedule by an operator until resumed.
    paused: bool = False
    #: Ids of the live workers that declare it.
    declared_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LimitStatus:
    """A concurrency limit in force, and its use."""

    queue: str
    task: str
    limit: int
    running: int
    #: Jobs of the task held back by the limit.
    waiting: int
    #: The limit the workers' code declares, and an operator's override (which wins).
    code_limit: int | None = None
    override: int | None = None


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of the jobs of a queue in one state."""

    jobs: list[JobInfo]
    #: The offset of the next page, None when this one is the last.
    next_offset: int | None
    #: How many jobs of that state the queue holds in all.
    total: int


@dataclass(frozen=True, slots=True)
class MinuteCount:
    """Outcomes of the jobs of a queue (or of all) in one minute of Redis time."""

    minute: datetime
    processed: int
    failed: int
    retried: int = 0


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
        if isinstance(obj, timedelta):
            return obj.total_seconds()
        if isinstance(obj, enum.Enum):
            return obj.name.lower() if isinstance(obj, JobStatus) else obj.value
        raise TypeError(f"{type(obj).__name__} is not JSON serializable")

    def plain(obj: Any) -> Any:
        if isinstance(obj, list):
            return [plain(item) for item in obj]
        if isinstance(obj, dict):
            return {key: plain(item) for key, item in obj.items()}
        if hasattr(obj, "__dataclass_fields__"):
            return asdict(obj)
        return obj

    return json.dumps(plain(value), default=default, indent=2, sort_keys=False)


# -- records as the scripts store them -------------------------------------------------------

_RECORD_STATES = {"s": JobStatus.SUCCEEDED, "f": JobStatus.FAILED, "c": JobStatus.CANCELLED}


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


def _lease_parts(value: str) -> tuple[int, str]:
    """(started ms, worker id) of a lease value "<token>:<started ms>:<worker>"."""
    parts = value.split(":", 2)  # a lease holding a limit slot starts with "L"
    if len(parts) != 3 or not parts[1].isdigit():
        return 0, ""
    return int(parts[1]), parts[2]


def done_info(job_id: str, queue: str, raw: bytes) -> JobInfo:
    """A finished job's record (succeeded or cancelled) as a JobInfo.

    It is "<state letter>\\x03<finished ms>\\x03<the job's record without its envelope>".
    """
    letter, _, rest = raw.partition(b"\x03")
    finished, _, kept = rest.partition(b"\x03")
    fields, _ = unpack_record(kept)
    started, worker = _lease_parts(fields.get("l", ""))
    retries = int(fields.get("r", "0") or 0)
    budget = int(fields.get("b", "0") or 0)
    status = _RECORD_STATES.get(letter.decode(), JobStatus.NOT_SET)
    ran = bool(fields.get("l") or fields.get("cn"))
    if not worker and fields.get("cn"):
        started, worker = _lease_parts(fields.get("ran", ""))
    return JobInfo(
        id=job_id,
        queue=queue,
        task=fields.get("t", ""),
        status=status,
        # A job cancelled while it ran (its lease, or the cancel's mark, kept) had a run.
        attempts=retries + 1 if status is JobStatus.SUCCEEDED or ran else retries,
        max_retries=None if budget < 0 else budget,
        created_at=from_ms(int(fields.get("c", "0") or 0)),
        started_at=from_ms(started),
        finished_at=from_ms(int(finished or 0)),
        worker=worker or None,
        unique_key=fields.get("k") or None,
        priority=int(fields.get("p", "0") or 0),
        stores_result=bool(fields.get("rt")),
        workflow=fields.get("wf") or None,
        **_workflow_error(fields.get("err", "")),
        **_progress(fields.get("pg", "")),
        cancel_requested_at=from_ms(int(fields.get("cn", "0") or 0)),
    )


#: What a held workflow step waits for (`JobInfo.waiting_for`).
HELD_IN_WORKFLOW = "the steps before it in its workflow"


def _workflow_error(field: str) -> dict[str, Any]:
    """The error of a finished record: a workflow step stopped before it ran says why (the
    error of an earlier run of a job is not shown once the job finished)."""
    if not field.startswith("spinach.WorkflowStopped"):
        return {}
    error_type, message = _split_error(field)
    return {"error_type": error_type, "error_message": message}


def _progress(field: str) -> dict[str, Any]:
    """The progress fields of a JobInfo from a record's `pg` field (none when empty)."""
    if not field:
        return {}
    fraction, message, at = parse_progress(field)
    return {"progress": fraction, "progress_message": message or None, "progress_at": from_ms(at)}


def _rate_key(field: str) -> str | None:
    """The rate key of a record's `rl` field ("<interval ms>\\3<key>"), None when empty."""
    return field.partition("\x03")[2] if field else None


#: The fields of a job's record, in their order (spinach_lua's record include; a unit test
#: checks that both sides agree).
RECORD_FIELDS = (
    "r",
    "x",
    "t",
    "c",
    "b",
    "s",
    "f",
    "ran",
    "u",
    "err",
    "tb",
    "p",
    "rl",
    "rs",
    "rt",
    "pg",
    "h",
    "wf",
    "wo",
    "cn",
    "k",
    "km",
)


def unpack_record(raw: bytes | str) -> tuple[dict[str, str], bytes | None]:
    """A job's record as ({field: value}, envelope), its lease as field "l"; empty values are
    left out."""
    data = raw.encode() if isinstance(raw, str) else raw
    state, split, envelope = data.partition(b"\x01")
    lease, leased, rest = state.partition(b"\x02")
    values = (rest if leased else state).decode().split("\0")
    fields = {name: value for name, value in zip(RECORD_FIELDS, values, strict=False) if value}
    if leased:
        fields["l"] = lease.decode()
    return fields, (envelope or None) if split else None


def record_info(job_id: str, queue: str, raw: bytes | str, due_ms: int = -1) -> JobInfo:
    """A job's record (see spinach_lua's record include) as a JobInfo; `due_ms` is its score
    in the delayed set, -1 when it is not there."""
    fields, envelope = unpack_record(raw)

    def text(name: str) -> str:
        return fields.get(name, "")

    def number(name: str) -> int:
        value = text(name)
        return int(value) if value.lstrip("-").isdigit() else 0

    args, kwargs = _arguments(envelope)
    retries = number("r")
    budget = number("b")
    lease = text("l")
    error = text("err")
    started, worker = _lease_parts(lease or text("ran"))
    finished = None
    retriable = False
    attempts = retries
    if text("s") == "f":
        status = JobStatus.FAILED
        finished = from_ms(number("f"))
        attempts = retries + 1
        retriable = envelope is not None and args is not None and not text("u")
    elif text("x") and text("cn"):  # cancelled, then its worker died: reported so next
        status = JobStatus.CANCELLED
        attempts = retries + 1
    elif text("x"):  # its worker died running it; the next fetch reports it failed
        status = JobStatus.FAILED
        error = ABANDONED_ERROR
        attempts = retries + 1
    elif lease:
        status = JobStatus.RUNNING
        attempts = retries + 1
    elif text("h") or due_ms >= 0:  # a workflow step that waits for the steps before it
        status = JobStatus.WAITING
    else:
        status = JobStatus.QUEUED
    if status in (JobStatus.WAITING, JobStatus.QUEUED):
        started, worker = 0, ""  # the last run's, if it was retried: shown by its error only
    error_type, error_message = _split_error(error)
    return JobInfo(
        id=job_id,
        queue=queue,
        task=text("t"),
        status=status,
        attempts=attempts,
        max_retries=None if budget < 0 else budget,
        created_at=from_ms(number("c")),
        due_at=from_ms(due_ms) if status is JobStatus.WAITING else None,
        started_at=from_ms(started),
        finished_at=finished,
        worker=worker or None,
        error_type=error_type,
        error_message=error_message,
        traceback=text("tb") or None,
        args=args,
        kwargs=kwargs,
        retriable=retriable,
        unique_key=text("k") or None,
        priority=number("p"),
        rate_key=_rate_key(text("rl")),
        stores_result=bool(text("rt")),
        workflow=text("wf") or None,
        waiting_for=HELD_IN_WORKFLOW if text("h") else None,
        **_progress(text("pg")),
        cancel_requested_at=from_ms(number("cn")) if text("cn") else None,
    )
