"""Tasks, the registry that declares them, batches, and the exceptions tasks raise to steer retries.

Names, arguments and defaults are those of Spinach 0.0.25.
"""

import functools
import json
import math
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from spinach import const
from spinach.exc import SpinachError, UnknownTask
from spinach.job import SignatureChecker
from spinach.keys import validate_queue
from spinach.options import NO_OPTIONS, JobOptions, checked_priority, checked_request
from spinach.rate import RateLimit
from spinach.results import checked_ttl
from spinach.retry import DEFAULT_RETRY_POLICY, RetryPolicy
from spinach.time_limits import checked_time_limits
from spinach.unique import UniqueRule

if TYPE_CHECKING:
    from spinach.engine import Engine
    from spinach.job import Job

F = TypeVar("F", bound=Callable[..., Any])


class Task:
    """A function that can run as jobs, with its delivery settings."""

    __slots__ = (
        "checker",
        "func",
        "max_concurrency",
        "max_retries",
        "name",
        "periodicity",
        "priority",
        "queue",
        "rate_limit",
        "result_ttl_ms",
        "retry_policy",
        "soft_time_limit",
        "time_limit",
        "unique",
        "unique_rule",
        "wire_max_retries",
    )

    def __init__(
        self,
        func: Callable[..., Any],
        name: str,
        queue: str,
        max_retries: int | float,
        periodicity: timedelta | None,
        max_concurrency: int | None = None,
        retry_policy: RetryPolicy | None = None,
        *,
        unique: bool = False,
        unique_until: str | None = None,
        unique_for: timedelta | float | None = None,
        debounce: bool | None = None,
        priority: int = 0,
        rate_limit: str | None = None,
        store_result: bool = False,
        result_ttl: timedelta | float | None = None,
        time_limit: timedelta | float | None = None,
        soft_time_limit: timedelta | float | None = None,
    ) -> None:
        if not callable(func):
            raise TypeError(f"Task {name!r}: {func!r} is not callable")
        if not isinstance(max_retries, int) and max_retries != math.inf:
            raise ValueError(f"Task {name!r}: max_retries must be an int or float('inf')")
        if max_retries < 0:
            raise ValueError(f"Task {name!r}: max_retries must not be negative")
        if max_concurrency is not None:
            if max_retries == 0:
                raise ValueError("max_retries must be set if max_concurrency is set")
            if max_concurrency < 1:
                raise ValueError("max_concurrency must be greater than zero")
        if periodicity is not None:
            if not isinstance(periodicity, timedelta):
                raise TypeError(f"Task {name!r}: periodicity must be a timedelta")
            if periodicity < timedelta(milliseconds=1):
                raise ValueError(f"Task {name!r}: periodicity must be at least one millisecond")
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise TypeError(f"Task {name!r}: retry_policy needs a delay(attempt) method")
        self.func = func
        self.name = name
        self.queue = validate_queue(queue)
        self.max_retries = max_retries
        self.periodicity = periodicity
        self.max_concurrency = max_concurrency
        self.retry_policy: RetryPolicy = retry_policy or DEFAULT_RETRY_POLICY
        if not isinstance(unique, bool):
            raise TypeError(f"Task {name!r}: unique must be True or False, got {unique!r}")
        #: Whether its jobs get a unique key derived from their arguments.
        self.unique = unique
        #: How its jobs hold a unique key (derived, or given per job).
        self.unique_rule = UniqueRule.checked(f"Task {name!r}", unique_until, unique_for, debounce)
        #: The priority of its jobs in their queue (higher first), unless a job sets its own.
        self.priority = checked_priority(f"Task {name!r}", priority)
        #: How often its jobs may start (each rate key of its own separately), or None.
        self.rate_limit = RateLimit.parse(f"Task {name!r}", rate_limit)
        #: How long its jobs' results are kept, in ms (0: they keep none), unless a job says.
        self.result_ttl_ms = checked_ttl(f"Task {name!r}", store_result, result_ttl)
        #: Longest run of one of its jobs, in seconds (None: no limit): the run is stopped
        #: and fails (see the time limits page). The soft limit only warns (a signal and a log
        #: line) and must come first.
        self.time_limit, self.soft_time_limit = checked_time_limits(
            f"Task {name!r}", time_limit, soft_time_limit
        )
        self.checker = SignatureChecker(name, func)
        if periodicity is not None:
            try:
                self.checker.check((), {})
            except SpinachError:
                raise ValueError(
                    f"Periodic task {name!r} must be callable without arguments: its jobs get none"
                ) from None
        #: max_retries as stored with each job: None for unlimited.
        self.wire_max_retries = None if max_retries == math.inf else int(max_retries)

    @property
    def task_name(self) -> str:
        """The task's name, so a Task can be passed wherever a task is expected."""
        return self.name

    def serialize(self) -> str:
        """Return the settings as sorted JSON, as Spinach 0.0.25 did."""
        return json.dumps(
            {
                "max_concurrency": -1 if self.max_concurrency is None else self.max_concurrency,
                "max_retries": self.max_retries,
                "name": self.name,
                "periodicity": (
                    None if self.periodicity is None else int(self.periodicity.total_seconds())
                ),
                "queue": self.queue,
            },
            sort_keys=True,
        )

    def __repr__(self) -> str:
        return (
            f"Task({self.func!r}, {self.name!r}, {self.queue!r}, {self.max_retries!r}, "
            f"{self.periodicity!r}, {self.max_concurrency!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Task):
            return NotImplemented
        return all(
            getattr(self, slot) == getattr(other, slot)
            for slot in self.__slots__
            if slot not in ("checker", "wire_max_retries")
        )

    __hash__ = None  # type: ignore[assignment]


class Tasks:
    """A registry of tasks, usually one per module, attached to an Engine.

    Arguments given here are the defaults of the tasks added to the registry.
    """

    def __init__(
        self,
        queue: str | None = None,
        max_retries: int | float | None = None,
        periodicity: timedelta | None = None,
        max_concurrency: int | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self._tasks: dict[str, Task] = {}
        self.queue = queue
        self.max_retries = max_retries
        self.periodicity = periodicity
        self.max_concurrency = max_concurrency
        self.retry_policy = retry_policy
        self._spin: Engine | None = None

    def update(self, tasks: "Tasks") -> None:
        """Add the tasks of another registry; a task of the same name is replaced."""
        self._tasks.update(tasks.tasks)

    @property
    def names(self) -> list[str]:
        return list(self._tasks.keys())

    @property
    def tasks(self) -> dict[str, Task]:
        return self._tasks

    def get(self, name: "str | Callable[..., Any] | Task") -> Task:
        """Return the task registered under `name` (a name, a task function or a Task)."""
        task_name = getattr(name, "task_name", name)
        try:
            return self._tasks[task_name]  # type: ignore[index]
        except (KeyError, TypeError):
            raise UnknownTask(
                f"Unknown task {task_name!r}: is the module declaring it imported and its Tasks "
                "attached to the Engine?"
            ) from None

    def __iter__(self) -> Iterator[Task]:
        return iter(self._tasks.values())

    def __len__(self) -> int:
        return len(self._tasks)

    @overload
    def task(
        self,
        func: F,
        name: str | None = None,
        queue: str | None = None,
        max_retries: int | float | None = None,
        periodicity: timedelta | None = None,
        max_concurrency: int | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        unique: bool = False,
        unique_until: str | None = None,
        unique_for: timedelta | float | None = None,
        debounce: bool | None = None,
        priority: int = 0,
        rate_limit: str | None = None,
        store_result: bool = False,
        result_ttl: timedelta | float | None = None,
        time_limit: timedelta | float | None = None,
        soft_time_limit: timedelta | float | None = None,
    ) -> F: ...

    @overload
    def task(
        self,
        func: None = None,
        name: str | None = None,
        queue: str | None = None,
        max_retries: int | float | None = None,
        periodicity: timedelta | None = None,
        max_concurrency: int | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        unique: bool = False,
        unique_until: str | None = None,
        unique_for: timedelta | float | None = None,
        debounce: bool | None = None,
        priority: int = 0,
        rate_limit: str | None = None,
        store_result: bool = False,
        result_ttl: timedelta | float | None = None,
        time_limit: timedelta | float | None = None,
        soft_time_limit: timedelta | float | None = None,
    ) -> Callable[[F], F]: ...

    def task(
        self,
        func: F | None = None,
        name: str | None = None,
        queue: str | None = None,
        max_retries: int | float | None = None,
        periodicity: timedelta | None = None,
        max_concurrency: int | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        unique: bool = False,
        unique_until: str | None = None,
        unique_for: timedelta | float | None = None,
        debounce: bool | None = None,
        priority: int = 0,
        rate_limit: str | None = None,
        store_result: bool = False,
        result_ttl: timedelta | float | None = None,
        time_limit: timedelta | float | None = None,
        soft_time_limit: timedelta | float | None = None,
    ) -> F | Callable[[F], F]:
        """Decorator registering a function as a task; the function stays directly callable.

        Also a plain call, ``tasks.task(func, "name", "queue")``: the arguments before
        `retry_policy` may be positional, in 0.0.25's order. `unique=True` gives each job a
        unique key derived from its arguments (see the flow control page); `unique_until`,
        `unique_for` and `debounce` say how a job holds its key. `priority` (-10 to 10,
        default 0) orders its jobs in their queue, higher first. `rate_limit` ("100/s",
        "5/m", "1/10s") spaces the starts of its jobs, per rate key given at send time.
        `store_result=True` keeps what its jobs return for `result_ttl` (a timedelta or
        seconds; a day by default), for `Engine.result` and `get_job`. `time_limit` (a
        timedelta or seconds) stops a run that lasts longer and fails it (retried if it may
        be); `soft_time_limit`, shorter, only warns.
        """
        if isinstance(func, str):  # @tasks.task("name"): the name taken for the function
            raise TypeError(
                f"Tasks.task takes the function first: write @tasks.task(name={func!r})"
            )
        if func is None:
            return functools.partial(
                self.task,
                name=name,
                queue=queue,
                max_retries=max_retries,
                periodicity=periodicity,
                max_concurrency=max_concurrency,
                retry_policy=retry_policy,
                unique=unique,
                unique_until=unique_until,
                unique_for=unique_for,
                debounce=debounce,
                priority=priority,
                rate_limit=rate_limit,
                store_result=store_result,
                result_ttl=result_ttl,
                time_limit=time_limit,
                soft_time_limit=soft_time_limit,
            )
        self.add(
            func,
            name,
            queue,
            max_retries,
            periodicity,
            max_concurrency,
            retry_policy,
            unique=unique,
            unique_until=unique_until,
            unique_for=unique_for,
            debounce=debounce,
            priority=priority,
            rate_limit=rate_limit,
            store_result=store_result,
            result_ttl=result_ttl,
            time_limit=time_limit,
            soft_time_limit=soft_time_limit,
        )
        func.task_name = name  # type: ignore[attr-defined]
        return func

    def add(
        self,
        func: Callable[..., Any],
        name: str | None = None,
        queue: str | None = None,
        max_retries: int | float | None = None,
        periodicity: timedelta | None = None,
        max_concurrency: int | None = None,
        retry_policy: RetryPolicy | None = None,
        *,
        unique: bool = False,
        unique_until: str | None = None,
        unique_for: timedelta | float | None = None,
        debounce: bool | None = None,
        priority: int = 0,
        rate_limit: str | None = None,
        store_result: bool = False,
        result_ttl: timedelta | float | None = None,
        time_limit: timedelta | float | None = None,
        soft_time_limit: timedelta | float | None = None,
    ) -> None:
        """Register `func` as the task `name`."""
        if not name:
            raise ValueError("Each Spinach task needs a name")
        if not isinstance(name, str) or any(byte in name for byte in "\0\x01\x02\x03"):
            raise ValueError(
                f"A task name must be a str without the control bytes 0 to 3, got {name!r}"
            )
        if name in self._tasks:
            raise ValueError(f"A task named {name!r} already exists")
        queue = queue or self.queue or const.DEFAULT_QUEUE
        if max_retries is None:
            max_retries = self.max_retries or const.DEFAULT_MAX_RETRIES
        self._tasks[name] = Task(
            func,
            name,
            queue,
            max_retries,
            periodicity if periodicity is not None else self.periodicity,
            max_concurrency if max_concurrency is not None else self.max_concurrency,
            retry_policy or self.retry_policy,
            unique=unique,
            unique_until=unique_until,
            unique_for=unique_for,
            debounce=debounce,
            priority=priority,
            rate_limit=rate_limit,
            store_result=store_result,
            result_ttl=result_ttl,
            time_limit=time_limit,
            soft_time_limit=soft_time_limit,
        )

    def _require_engine(self) -> "Engine":
        if self._spin is None:
            raise RuntimeError(
                "Cannot schedule jobs: this Tasks is not attached to an Engine "
                "(call engine.attach_tasks(tasks) first)"
            )
        return self._spin

    def schedule(self, task: "str | Callable[..., Any] | Task", *args: Any, **kwargs: Any) -> "Job":
        """Schedule a job to run as soon as possible (see Engine.schedule)."""
        return self._require_engine().schedule(task, *args, **kwargs)

    def schedule_at(
        self, task: "str | Callable[..., Any] | Task", at: datetime, *args: Any, **kwargs: Any
    ) -> "Job":
        """Schedule a job to run at `at` (see Engine.schedule_at)."""
        return self._require_engine().schedule_at(task, at, *args, **kwargs)

    def schedule_in(
        self, task: "str | Callable[..., Any] | Task", delay: timedelta, *args: Any, **kwargs: Any
    ) -> "Job":
        """Schedule a job to run after `delay` (see Engine.schedule_in)."""
        return self._require_engine().schedule_in(task, delay, *args, **kwargs)

    def schedule_with(
        self,
        task: "str | Callable[..., Any] | Task",
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> "Job":
        """Schedule a job with options of its own (see Engine.schedule_with)."""
        return self._require_engine().schedule_with(task, args, kwargs, **options)

    def schedule_batch(self, batch: "Batch") -> "list[Job]":
        """Schedule every job of `batch` (see Engine.schedule_batch)."""
        return self._require_engine().schedule_batch(batch)


class Batch:
    """Jobs to send together: one Redis call per queue, all or nothing within it.

    A batch should not be reused once scheduled.
    """

    def __init__(self) -> None:
        self.jobs_to_create: list[
            tuple[Any, datetime | timedelta | None, tuple[Any, ...], dict[str, Any], JobOptions]
        ] = []

    def schedule(self, task: "str | Callable[..., Any] | Task", *args: Any, **kwargs: Any) -> None:
        """Add a job to run as soon as possible."""
        self.jobs_to_create.append((task, None, args, kwargs, NO_OPTIONS))

    def schedule_with(
        self,
        task: "str | Callable[..., Any] | Task",
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        at: datetime | None = None,
        delay: timedelta | float | None = None,
        max_retries: int | float | None = None,
        priority: int | None = None,
        rate_key: str | None = None,
        unique_key: str | None = None,
        unique_until: str | None = None,
        unique_for: timedelta | float | None = None,
        debounce: bool | None = None,
        store_result: bool | None = None,
        result_ttl: timedelta | float | None = None,
    ) -> None:
        """Add a job with options of its own (see Engine.schedule_with).

        Within one batch, the first job of a unique key is the one sent; later ones of the same
        key come back as duplicates of it.
        """
        when, call_args, call_kwargs = checked_request(args, kwargs, at, delay)
        options = JobOptions(
            max_retries,
            unique_key,
            unique_until,
            unique_for,
            debounce,
            priority,
            rate_key,
            store_result,
            result_ttl,
        )
        self.jobs_to_create.append((task, when, call_args, call_kwargs, options))

    def schedule_at(
        self, task: "str | Callable[..., Any] | Task", at: datetime, *args: Any, **kwargs: Any
    ) -> None:
        """Add a job to run at `at` (a naive datetime is UTC)."""
        self.jobs_to_create.append((task, at, args, kwargs, NO_OPTIONS))

    def schedule_in(
        self, task: "str | Callable[..., Any] | Task", delay: timedelta, *args: Any, **kwargs: Any
    ) -> None:
        """Add a job to run after `delay`, measured by Redis's clock."""
        self.jobs_to_create.append((task, delay, args, kwargs, NO_OPTIONS))

    def __len__(self) -> int:
        return len(self.jobs_to_create)


class RetryException(Exception):
    """Raise in a task to ask for a retry, optionally at a given time (naive means UTC).

    The retry still counts against the task's max_retries.
    """

    def __init__(self, message: str, at: datetime | None = None) -> None:
        super().__init__(message)
        if at is not None and not isinstance(at, datetime):
            raise TypeError(f"RetryException(at=...) takes a datetime, got {at!r}")
        self.at = at


class AbortException(Exception):
    """Raise in a task to stop retrying it: the job fails for good."""
