"""Sentry for Spinach workers: a scope and a transaction per job, each failure reported once.

    import sentry_sdk
    from spinach_worker.integrations.sentry import SpinachIntegration

    sentry_sdk.init(dsn=..., integrations=[SpinachIntegration()])

Hooks on the job signals, no monkeypatching. Each job runs in a fresh isolation scope holding
its context (task, id, queue, attempt) and, when tracing is on, a ``queue.process``
transaction named after the task. A job that fails for good is reported as an unhandled error;
a failure that will be retried only with ``send_retries``. RetryException and AbortException
are control flow: never reported as errors.

Scopes live in context variables: they follow a job on its ThreadWorkers thread, and on the
asyncio task that runs it under AsyncioWorkers.
"""

import contextvars
import dataclasses
import logging
import math
import sys
import time
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sentry_sdk
from sentry_sdk.crons import MonitorStatus, capture_checkin
from sentry_sdk.integrations import Integration
from sentry_sdk.integrations.dedupe import DedupeIntegration
from sentry_sdk.scope import Scope, add_global_event_processor
from sentry_sdk.tracing import NoOpSpan, Span
from sentry_sdk.utils import capture_internal_exceptions, event_from_exception

from spinach import signals
from spinach.exc import JobAbandonedError, UnknownTask
from spinach.job import Job, JobStatus
from spinach.task import AbortException, RetryException, Task
from spinach_worker.execution import current_task

if TYPE_CHECKING:
    from sentry_sdk._types import Event, Hint, MonitorConfigSchedule, MonitorConfigScheduleUnit

ORIGIN = "auto.queue.spinach"
OP = "queue.process"

#: Periodic tasks ticking faster than this get no cron check-ins (Sentry counts in minutes).
MIN_CRON_PERIOD = timedelta(minutes=1)

_CONTROL_FLOW = (RetryException, AbortException)


@dataclasses.dataclass(slots=True)
class _Run:
    """What the hooks keep between the start and the end of one job."""

    #: Held so that id(job), the run's key, cannot be reused while the run lasts.
    job: Job
    scope: AbstractContextManager[Scope]
    transaction: Span | NoOpSpan
    started: float
    #: (monitor slug, check-in id) of the in-progress cron check-in.
    check_in: tuple[str, str] | None = None
    error: BaseException | None = None


class SpinachIntegration(Integration):
    """Report the jobs of Spinach workers to Sentry.

    `send_retries`: also report failures that will be retried (as handled errors); off by
    default, since a flaky dependency then floods Sentry with errors that retries absorb.
    `cron_monitors`: send Sentry cron check-ins (in progress, then ok or error) for periodic
    tasks of a period of a minute or more; the monitor slug is the task name and its schedule
    the task's period. `include_args`: add the job's arguments to the context of its events;
    off by default, as arguments may hold personal data.
    """

    identifier = "spinach"

    def __init__(
        self, send_retries: bool = False, cron_monitors: bool = False, include_args: bool = False
    ) -> None:
        self.send_retries = send_retries
        self.cron_monitors = cron_monitors
        self.include_args = include_args
        # Jobs by id(job): each run has its own Job object, alive until its job_finished.
        self._runs: dict[int, _Run] = {}
        # Cron periods by (namespace, task name); None: no check-ins for that task.
        self._periods: dict[tuple[str, str], timedelta | None] = {}

    @staticmethod
    def setup_once() -> None:
        signals.job_started.connect(_on_job_started, weak=False)
        signals.job_finished.connect(_on_job_finished, weak=False)
        signals.job_schedule_retry.connect(_on_job_schedule_retry, weak=False)
        signals.job_failed.connect(_on_job_failed, weak=False)
        add_global_event_processor(_drop_logged_duplicates)

    # Hooks

    def job_started(self, namespace: str, job: Job) -> None:
        scope_manager = sentry_sdk.isolation_scope()
        scope = scope_manager.__enter__()
        try:
            scope.clear_breadcrumbs()
            self._describe(scope, namespace, job)
            transaction = sentry_sdk.continue_trace(
                {}, op=OP, name=job.task_name, source="task", origin=ORIGIN
            )
            transaction.set_data("messaging.system", "spinach")
            transaction.set_data("messaging.destination.name", job.queue)
            transaction.set_data("messaging.message.id", job.job_id)
            transaction.set_data("messaging.message.retry.count", job.retries)
            span = sentry_sdk.start_transaction(
                transaction,
                custom_sampling_context={
                    "spinach_job": {"task": job.task_name, "queue": job.queue, "id": job.job_id}
                },
            )
            span.__enter__()
        except BaseException:
            scope_manager.__exit__(*sys.exc_info())
            raise
        run = _Run(job, scope_manager, span, time.monotonic())
        self._runs[id(job)] = run
        period = self._cron_period(namespace, job)
        if period is not None:
            schedule = _interval_schedule(period)
            check_in_id = capture_checkin(
                monitor_slug=job.task_name,
                status=MonitorStatus.IN_PROGRESS,
                monitor_config={"schedule": schedule},
            )
            if check_in_id is not None:
                run.check_in = (job.task_name, check_in_id)

    def job_schedule_retry(self, namespace: str, job: Job, err: BaseException) -> None:
        run = self._runs.get(id(job))
        if run is not None:
            run.error = err
        if self.send_retries and not isinstance(err, _CONTROL_FLOW):
            self._capture(namespace, job, err, handled=True, in_run=run is not None)

    def job_failed(self, namespace: str, job: Job, err: BaseException) -> None:
        run = self._runs.get(id(job))
        if run is not None:
            run.error = err
        if not isinstance(err, _CONTROL_FLOW):
            self._capture(namespace, job, err, handled=False, in_run=run is not None)

    def job_finished(self, namespace: str, job: Job) -> None:
        run = self._runs.pop(id(job), None)
        if run is None:
            return
        try:
            succeeded = job.status is JobStatus.SUCCEEDED
            if succeeded:
                status = "ok"
            elif isinstance(run.error, _CONTROL_FLOW):
                status = "cancelled"  # not a failure: Sentry's failure rate leaves it out
            else:
                status = "internal_error"
            run.transaction.set_status(status)
            run.transaction.__exit__(None, None, None)
            if run.check_in is not None:
                slug, check_in_id = run.check_in
                capture_checkin(
                    monitor_slug=slug,
                    check_in_id=check_in_id,
                    status=MonitorStatus.OK if succeeded else MonitorStatus.ERROR,
                    duration=time.monotonic() - run.started,
                )
        finally:
            run.scope.__exit__(None, None, None)

    # Helpers

    def _describe(self, scope: Scope, namespace: str, job: Job) -> None:
        scope.set_tag("spinach.task", job.task_name)
        scope.set_tag("spinach.queue", job.queue)
        context: dict[str, Any] = {
            "task": job.task_name,
            "id": job.job_id,
            "queue": job.queue,
            "namespace": namespace,
            "attempt": job.retries + 1,
            "retries": job.retries,
            "max_retries": None if job.max_retries == math.inf else job.max_retries,
            "scheduled_at": job.at.isoformat(),
        }
        if self.include_args:
            context["args"] = list(job.task_args)
            context["kwargs"] = dict(job.task_kwargs)
        scope.set_context("spinach", context)

    def _capture(
        self, namespace: str, job: Job, err: BaseException, *, handled: bool, in_run: bool
    ) -> None:
        client = sentry_sdk.get_client()
        event, hint = event_from_exception(
            err, client_options=client.options, mechanism={"type": "spinach", "handled": handled}
        )
        if _last_dropped.get() is err:
            # The worker's log of this failure reached Sentry's dedupe before it was dropped
            # here: without a reset, dedupe would take this event for a second copy.
            _last_dropped.set(None)
            _reset_dedupe()
        if in_run:
            sentry_sdk.capture_event(event, hint=hint)
            return
        # Sent outside a run (a job abandoned by a dead worker, an unknown task): a scope of
        # its own, so the event carries the job's context all the same.
        with sentry_sdk.isolation_scope() as scope:
            self._describe(scope, namespace, job)
            scope.set_transaction_name(job.task_name, source="task")
            sentry_sdk.capture_event(event, hint=hint)

    def _cron_period(self, namespace: str, job: Job) -> timedelta | None:
        """The period of `job`'s task if it gets check-ins (periodic, a minute or more)."""
        if not self.cron_monitors or job.task_args or job.task_kwargs:
            return None  # periodic jobs never have arguments
        key = (namespace, job.task_name)
        try:
            period = self._periods[key]
        except KeyError:
            task = _caller_task(job)
            if task is None:
                return None
            period = task.periodicity
            if period is not None and period < MIN_CRON_PERIOD:
                period = None
            self._periods[key] = period
        return period


def _reset_dedupe() -> None:
    reset = getattr(DedupeIntegration, "reset_last_seen", None)
    if reset is not None:
        reset()
        return
    dedupe = sentry_sdk.get_client().get_integration(DedupeIntegration)
    if dedupe is not None:  # sentry-sdk before 2.24 has no reset_last_seen
        dedupe._last_seen.set(None)


def _caller_task(job: Job) -> Task | None:
    """The Task of the job running in this thread, as the executor set it."""
    task = current_task.get()
    return task if task is not None and task.name == job.task_name else None


def _interval_schedule(period: timedelta) -> "MonitorConfigSchedule":
    """Sentry's interval schedule for `period`: its largest exact unit, else whole minutes.

    A period that is no whole number of minutes is rounded up, so that Sentry never expects a
    check-in before the next tick.
    """
    minutes = period / timedelta(minutes=1)
    units: tuple[tuple[MonitorConfigScheduleUnit, int], ...] = (
        ("week", 7 * 24 * 60),
        ("day", 24 * 60),
        ("hour", 60),
    )
    for unit, size in units:
        if minutes % size == 0:
            return {"type": "interval", "value": int(minutes // size), "unit": unit}
    return {"type": "interval", "value": math.ceil(minutes), "unit": "minute"}


# Signal receivers: connected once per process, they do nothing unless the current Sentry
# client has the integration.


def _integration() -> SpinachIntegration | None:
    return sentry_sdk.get_client().get_integration(SpinachIntegration)


def _on_job_started(namespace: str, *, job: Job, **_: Any) -> None:
    integration = _integration()
    if integration is not None:
        with capture_internal_exceptions():
            integration.job_started(namespace, job)


def _on_job_finished(namespace: str, *, job: Job, **_: Any) -> None:
    integration = _integration()
    if integration is not None:
        with capture_internal_exceptions():
            integration.job_finished(namespace, job)


def _on_job_schedule_retry(namespace: str, *, job: Job, err: BaseException, **_: Any) -> None:
    integration = _integration()
    if integration is not None:
        with capture_internal_exceptions():
            integration.job_schedule_retry(namespace, job, err)


def _on_job_failed(namespace: str, *, job: Job, err: BaseException, **_: Any) -> None:
    integration = _integration()
    if integration is not None:
        with capture_internal_exceptions():
            integration.job_failed(namespace, job, err)


# The worker logs every failure it also signals. Sentry's logging integration would turn the
# log into a second, poorer event; the signal's event carries the job, so the log's is dropped.

#: The error of the last log dropped in this context. job_failed follows at once and clears
#: it (builtin exceptions cannot be referenced weakly).
_last_dropped: contextvars.ContextVar[BaseException | None] = contextvars.ContextVar(
    "spinach_sentry_last_dropped", default=None
)


def _drop_logged_duplicates(event: "Event", hint: "Hint") -> "Event | None":
    record = hint.get("log_record") if hint else None
    if record is None or not _reported_by_signal(record) or _integration() is None:
        return event
    if record.exc_info and record.exc_info[1] is not None:
        _last_dropped.set(record.exc_info[1])
    return None


def _reported_by_signal(record: logging.LogRecord) -> bool:
    """Whether `record` is the worker's log of a failure that job_failed reports too."""
    if not record.name.startswith("spinach") or record.levelno < logging.ERROR:
        return False
    args = record.args if isinstance(record.args, tuple) else ()
    if any(isinstance(arg, JobAbandonedError | UnknownTask) for arg in args):
        return True  # abandoned jobs and unknown tasks: logged, then concluded by the signals
    # "<job> failed for good": logged with the error just before job_failed is sent.
    return (
        record.exc_info is not None
        and bool(args)
        and isinstance(args[0], Job)
        and args[0].status is JobStatus.FAILED
    )


__all__ = ["SpinachIntegration"]
