"""Jobs: one execution request of a task, as seen by the user and by the worker."""

import enum
import inspect
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from spinach import running
from spinach.exc import InvalidJobSignatureError
from spinach.ids import new_job_id
from spinach.running import ProgressSink
from spinach.utils import now_utc, utc

#: What a job carries for a worker or a sender only, not part of what the job is.
_NOT_COMPARED = frozenset(
    (
        "_uuid",
        "_cancelled",
        "_lease_token",
        "_reporter",
        "_result_ttl_ms",
        "_trace_headers",
        "_workflow",
        "duplicate",
    )
)


class JobStatus(enum.Enum):
    """Where a job is in its life (values kept from Spinach 0.0.25)."""

    NOT_SET = 0
    WAITING = 1
    QUEUED = 2
    RUNNING = 3
    SUCCEEDED = 4
    FAILED = 5
    #: Removed by `Engine.cancel` before it started (new: not in 0.0.25).
    CANCELLED = 6


class Job:
    """A job: a task name, its arguments and its delivery settings.

    The object returned by ``schedule`` is a snapshot taken when the job was sent; the worker
    builds its own copy from the stored envelope.
    """

    __slots__ = [
        "_cancelled",
        "_id",
        "_lease_token",
        "_reporter",
        "_result_ttl_ms",
        "_trace_headers",
        "_uuid",
        "_workflow",
        "at",
        "duplicate",
        "max_retries",
        "queue",
        "retries",
        "status",
        "task_args",
        "task_func",
        "task_kwargs",
        "task_name",
    ]

    def __init__(
        self,
        task_name: str,
        queue: str,
        at: datetime,
        max_retries: int | float,
        task_args: tuple[Any, ...] | list[Any] | None = None,
        task_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self._id = new_job_id()
        self._uuid: uuid.UUID | None = None
        #: Fencing token of the lease a worker fetched this job under ("" outside workers).
        self._lease_token = ""
        #: How long a worker keeps what the job returns, in ms (0: nothing is kept).
        self._result_ttl_ms = 0
        #: Where its progress reports go while a worker runs it (see spinach.running).
        self._reporter: ProgressSink | None = None
        #: Set by its worker when `Engine.cancel` asked for it while it ran.
        self._cancelled = False
        #: The workflow it is a step of ("": none): its worker sends its result on.
        self._workflow = ""
        #: Trace context propagated from the producer (W3C trace context), if any.
        self._trace_headers: dict[str, str] = {}
        #: True when sending found a live job holding the same unique key: this object then
        #: carries that job's id (its status NOT_SET: `get_job` tells where the live job is),
        #: and nothing new was queued.
        self.duplicate = False
        self.status = JobStatus.NOT_SET
        self.task_name = task_name
        self.queue = queue
        self.at = utc(at)
        self.max_retries = max_retries
        self.retries = 0
        self.task_args: tuple[Any, ...] = tuple(task_args) if task_args else ()
        self.task_kwargs: dict[str, Any] = task_kwargs if task_kwargs is not None else {}
        self.task_func: Callable[..., Any] | None = None

    @classmethod
    def _scheduled(
        cls,
        task_name: str,
        queue: str,
        at: datetime,
        max_retries: int | float,
        status: JobStatus,
        task_args: tuple[Any, ...],
        task_kwargs: dict[str, Any],
        job_id: str,
    ) -> "Job":
        """Build a new job from trusted parts: at aware, args a tuple (the scheduling hot path)."""
        job = cls.__new__(cls)
        job._id = job_id
        job._uuid = None
        job._lease_token = ""
        job._result_ttl_ms = 0
        job._reporter = None
        job._cancelled = False
        job._workflow = ""
        job._trace_headers = {}
        job.duplicate = False
        job.status = status
        job.task_name = task_name
        job.queue = queue
        job.at = at
        job.max_retries = max_retries
        job.retries = 0
        job.task_args = task_args
        job.task_kwargs = task_kwargs
        job.task_func = None
        return job

    @property
    def id(self) -> uuid.UUID:
        """The job's id (a UUID4, as in Spinach 0.0.25)."""
        if self._uuid is None:
            self._uuid = uuid.UUID(self._id)
        return self._uuid

    @id.setter
    def id(self, value: uuid.UUID | str) -> None:
        self._uuid = value if isinstance(value, uuid.UUID) else uuid.UUID(value)
        self._id = str(self._uuid)

    @property
    def job_id(self) -> str:
        """The job's id as text, as stored in Redis; cheaper than ``str(job.id)``."""
        return self._id

    def report_progress(self, fraction: float, message: str = "") -> None:
        """Say how far this running job got (0 to 1) and what it does now.

        Call it from the job's task (see `spinach.current_job`) as often as suits: the worker
        sends the latest report of each job at most twice a second, off the task's thread, and
        `get_job`, `spinach job show` and the dashboard show it.
        """
        running.report_progress(self, fraction, message)

    @property
    def cancelled(self) -> bool:
        """Whether `Engine.cancel` asked for this job while it runs: cooperative task code
        checks it between steps (the worker also raises `JobCancelled` in the task)."""
        return self._cancelled

    @property
    def should_retry(self) -> bool:
        """Whether a failure of this attempt leaves room for another one."""
        return self.retries < self.max_retries

    @property
    def should_start(self) -> bool:
        """Whether the job is due according to this host's clock (Redis time decides in brokers)."""
        return now_utc() >= self.at

    @property
    def at_timestamp(self) -> int:
        """Due time in whole seconds since the epoch, rounded up."""
        return -int(-self.at.timestamp() // 1)

    def check_signature(self) -> None:
        """Raise InvalidJobSignatureError unless the arguments fit the task function."""
        if self.task_func is None:
            raise ValueError("Job has no task_func to check its signature against")
        check_signature(self.task_name, self.task_func, self.task_args, self.task_kwargs)

    def __repr__(self) -> str:
        # Spinach 0.0.25's format, kept for the log parsers that read it.
        return f"Job <{self.task_name} {self.status.name} {self.id}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Job):
            return NotImplemented
        return all(
            getattr(self, slot) == getattr(other, slot)
            for slot in self.__slots__
            if slot not in _NOT_COMPARED
        )

    __hash__ = None  # type: ignore[assignment]


def check_signature(
    task_name: str,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    signature: inspect.Signature | None = None,
) -> None:
    """Raise InvalidJobSignatureError unless `args` and `kwargs` can call `func`."""
    try:
        (signature or inspect.signature(func)).bind(*args, **kwargs)
    except TypeError as e:
        raise InvalidJobSignatureError(f"Invalid signature for task {task_name}: {e}") from None


class SignatureChecker:
    """Check arguments against a signature, fast for the common shape of task functions.

    Binding with inspect costs several microseconds per job, which dominates a large batch.
    For functions whose parameters are all plain positional-or-keyword ones, a call is valid
    exactly when no argument is extra or given twice and every parameter without a default is
    given: that is checked with set operations, and inspect only builds the error message.
    """

    __slots__ = ("_func", "_names", "_required", "_signature", "_task_name")

    def __init__(self, task_name: str, func: Callable[..., Any]) -> None:
        self._task_name = task_name
        self._func = func
        try:
            self._signature: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):  # builtins without a signature: nothing to check
            self._signature = None
        self._names: tuple[str, ...] | None = None
        self._required = 0
        if self._signature is not None:
            params = list(self._signature.parameters.values())
            if all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params):
                self._names = tuple(p.name for p in params)
                required = [p for p in params if p.default is p.empty]
                if params[: len(required)] == required:
                    self._required = len(required)
                else:
                    self._names = None

    def check(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Raise InvalidJobSignatureError unless `args` and `kwargs` fit the function."""
        names = self._names
        if names is not None and len(args) <= len(names):
            given = len(args)
            if not kwargs:
                if given >= self._required:
                    return
            elif kwargs.keys() <= set(names[given:]) and all(
                name in kwargs for name in names[given : self._required]
            ):
                return
        if self._signature is not None:
            check_signature(self._task_name, self._func, args, kwargs, self._signature)
