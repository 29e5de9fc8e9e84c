"""Send jobs once the database transaction around them commits, never if it rolls back.

A web request that writes a row and schedules a job about it has two writes to make, one to
the database and one to Redis (the dual-write problem). Sent inside the transaction, the job
may run before the row is committed and not find it, or run for a row that a rollback then
removed. Deferred to the commit, it runs only for committed rows. What stays open is a crash
between the commit and the send: the row is there and the job is not. docs/integrations.md says
when that matters and how an outbox table closes the gap.

The integrations build an AfterCommit on their framework's commit hook:
``spinach.contrib.spinachd.after_commit`` (Django's ``transaction.on_commit``) and
``spinach.contrib.sqlalchemy.after_commit`` (a Session's events).
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from spinach.arguments import check_arguments
from spinach.engine import Engine
from spinach.ids import new_job_id
from spinach.task import Batch, Task
from spinach.utils import now_utc, wall_ms

TaskRef = str | Callable[..., Any] | Task

#: Registers a callback to run when the current transaction commits (dropped on rollback).
Defer = Callable[[Callable[[], None]], None]


class AfterCommit:
    """Schedule like an Engine, but send each job only when the transaction commits.

    The arguments are checked at once, inside the transaction, so that a bad call raises where
    it is made (and can still roll the transaction back); the job itself is made and sent at
    the commit. The methods return None: there is no job until then.
    """

    def __init__(self, engine: Engine, defer: Defer) -> None:
        self.engine = engine
        self._defer = defer

    def schedule(self, task: TaskRef, *args: Any, **kwargs: Any) -> None:
        """Send a job to run as soon as a worker is free, once the transaction commits."""
        self._check(task, args, kwargs)
        self._defer(lambda: self._send(self.engine.schedule, task, args, kwargs))

    def schedule_at(self, task: TaskRef, at: datetime, *args: Any, **kwargs: Any) -> None:
        """Send a job to run at `at`, once the transaction commits."""
        if not isinstance(at, datetime):
            raise TypeError(f"schedule_at needs a datetime, got {at!r}")
        self._check(task, args, kwargs)
        self._defer(lambda: self._send(self.engine.schedule_at, task, (at, *args), kwargs))

    def schedule_in(self, task: TaskRef, delay: timedelta, *args: Any, **kwargs: Any) -> None:
        """Send a job to run after `delay`, counted from the commit."""
        if not isinstance(delay, timedelta):
            raise TypeError(f"schedule_in needs a timedelta, got {delay!r}")
        self._check(task, args, kwargs)
        self._defer(lambda: self._send(self.engine.schedule_in, task, (delay, *args), kwargs))

    def schedule_with(
        self,
        task: TaskRef,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        """Send a job with options of its own (see Engine.schedule_with), once it commits.

        The job and its options are checked now, as the Engine would check them; a delay counts
        from the commit.
        """
        batch = Batch()
        batch.schedule_with(task, args, kwargs, **options)
        ref, when, call_args, call_kwargs, job_options = batch.jobs_to_create[0]
        self.engine._prepare(
            ref, when, call_args, call_kwargs, now_utc(), wall_ms(), new_job_id(), None, job_options
        )
        self._defer(lambda: self._send_batch(batch))

    def schedule_batch(self, batch: Batch) -> None:
        """Send every job of `batch` in one round trip, once the transaction commits."""
        for task, _, args, kwargs, _ in batch.jobs_to_create:
            self._check(task, args, kwargs)
        self._defer(lambda: self._send_batch(batch))

    def _check(self, task: TaskRef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        resolved = self.engine.tasks.get(task)
        resolved.checker.check(args, kwargs)
        check_arguments(resolved.name, args, kwargs)

    @staticmethod
    def _send(
        method: Callable[..., Any], task: TaskRef, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        method(task, *args, **kwargs)

    def _send_batch(self, batch: Batch) -> None:
        self.engine.schedule_batch(batch)
