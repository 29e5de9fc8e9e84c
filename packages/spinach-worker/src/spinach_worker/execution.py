"""Run one job and decide what comes next: success, a retry later, or failure for good.

Shared by every executor. Nothing a task raises, BaseException included, escapes from here:
a worker thread never dies because of a job.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from spinach import running, signals
from spinach.inspection import describe_error, describe_traceback
from spinach.job import Job, JobStatus
from spinach.protocol import Outcome
from spinach.results import UnstorableResultError, encode_result
from spinach.retry import DEFAULT_RETRY_POLICY
from spinach.task import AbortException, RetryException, Task
from spinach.time_limits import JobInterrupted
from spinach.utils import now_utc, to_epoch_ms, utc
from spinach_worker import telemetry
from spinach_worker.interrupts import Run

logger = logging.getLogger("spinach.worker")

_MS = timedelta(milliseconds=1)

#: The task whose job runs in this thread (or asyncio task), for hooks that need its settings
#: (the signals carry the job only, as in Spinach 0.0.25).
current_task: ContextVar[Task | None] = ContextVar("spinach_current_task", default=None)


def start(job: Job, namespace: str) -> float:
    """Mark `job` running and announce it; return the start time for `finish`."""
    job.status = JobStatus.RUNNING
    signals.job_started.send(namespace, job=job)
    return time.monotonic()


def failure(job_id: str, error: BaseException, op: str = "f") -> Outcome:
    """The outcome of a job that failed for good, its error and traceback kept with it."""
    return Outcome(op, job_id, 0, describe_error(error), describe_traceback(error))


#: Whether this worker still surely holds a job's lease (see LeaseBook.vouches).
Vouches = Callable[[Job], bool]


def _vouched(job: Job) -> bool:
    return True


def finish(
    job: Job,
    task: Task,
    namespace: str,
    error: BaseException | None,
    started: float,
    vouches: Vouches = _vouched,
    value: Any = None,
) -> Outcome:
    """Decide the outcome of a run, send the matching signals and return what to record.

    `value` is what the task returned (kept when the job stores its result).
    """
    duration = time.monotonic() - started
    try:
        outcome = conclude(job, task, namespace, error, duration, vouches, value)
    except BaseException as policy_error:  # a failing policy must not lose the job: fail it
        logger.exception("Could not decide the outcome of %s; marking it failed", job)
        job.status = JobStatus.FAILED
        outcome = failure(job.job_id, error or policy_error)
    signals.job_finished.send(namespace, job=job)
    return outcome


#: What a run returns when its executor took its outcome over (the run's thread was stuck):
#: the thread discards it, having decided and announced nothing.
TAKEN_OVER = Outcome("-", "")


def run(job: Job, task: Task, namespace: str, vouches: Vouches, stop: Run) -> Outcome:
    """Run `job` synchronously in this thread and return its outcome (`stop`: how the
    deadline watcher and the cancel listener stop it)."""
    context = current_task.set(task)
    job_context = running.set_current(job)
    try:
        if telemetry.observed():
            with telemetry.processing(job) as span:
                started = start(job, namespace)
                error, value = _call(job, task, stop)
                if error is _TAKEN_OVER:
                    return TAKEN_OVER
                outcome = finish(job, task, namespace, error, started, vouches, value)
                telemetry.finished(span, job, outcome, error, time.monotonic() - started)
            return outcome
        started = start(job, namespace)  # the common path: no SDK listening, nothing to build
        error, value = _call(job, task, stop)
        if error is _TAKEN_OVER:
            return TAKEN_OVER
        return finish(job, task, namespace, error, started, vouches, value)
    finally:
        running.reset_current(job_context)
        current_task.reset(context)


def _call(job: Job, task: Task, stop: Run) -> tuple[BaseException | None, Any]:
    """Call the task function; return what it raised, if anything, and what it returned
    (`_TAKEN_OVER` as the error when the executor took the outcome over meanwhile)."""
    try:
        try:
            stop.enter()
            value = task.func(*job.task_args, **job.task_kwargs)
        finally:
            if stop.leave():
                return _TAKEN_OVER, None  # noqa: B012 - what the task did is moot now
    except BaseException as e:  # noqa: BLE001 - a task must never kill its thread
        if stop.taken_over:  # the stop landed in leave() itself, after the take-over
            return _TAKEN_OVER, None
        return stopped_error(stop, e), None
    return None, value


_TAKEN_OVER = JobInterrupted("taken over")


def stopped_error(stop: Run, error: BaseException) -> BaseException:
    """What a run that raised `error` ends with: the reason it was stopped, if it was (the
    exception raised in its thread, or the cancel of its coroutine). A CancelledError that
    is not a stop (an awaited future someone else cancelled) is an error like any other."""
    if stop.reason is not None and (
        isinstance(error, JobInterrupted)
        or (stop.loop_cancelled and isinstance(error, asyncio.CancelledError))
    ):
        return stop.error(error)
    return error


def cancelled(job: Job, namespace: str, error: BaseException) -> Outcome:
    """The outcome of a job stopped (or not started) because its cancel was asked for."""
    job.status = JobStatus.CANCELLED
    logger.info("%s was cancelled while it ran: %s", job, error)
    signals.job_cancelled.send(namespace, job=job)
    return Outcome("c", job.job_id, 0, describe_error(error), describe_traceback(error))


def conclude(
    job: Job,
    task: Task | None,
    namespace: str,
    error: BaseException | None,
    duration: float = 0.0,
    vouches: Vouches = _vouched,
    value: Any = None,
) -> Outcome:
    """Turn a run's result into an outcome; update `job` and send retry and failure signals.

    A worker that can no longer vouch for the job's lease (it was paused past it) decides
    nothing in the job's name: no retry or failure is announced, and the outcome it returns
    will be rejected by fencing if another worker took the job over.
    """
    job_id = job.job_id
    if error is None:
        if job._result_ttl_ms or job._workflow:
            try:
                result = encode_result(job.task_name, value)
            except UnstorableResultError as unstorable:
                error = unstorable  # retrying cannot change what the task returns
            else:
                job.status = JobStatus.SUCCEEDED
                logger.debug("Finished %s in %.3fs", job, duration)
                return Outcome("S", job_id, job._result_ttl_ms, result=result)
        else:
            job.status = JobStatus.SUCCEEDED
            logger.debug("Finished %s in %.3fs", job, duration)
            return Outcome("s", job_id)

    if job._cancelled:
        # Asked for while it ran: it ends as cancelled (what it raised is kept with it),
        # never retried; the record's mark makes Redis say so too should this worker die.
        return cancelled(job, namespace, error)

    if not vouches(job):
        logger.warning(
            "%s ended with %r after its lease may have expired (this worker was paused or cut "
            "off from Redis): its new owner, if any, decides its fate",
            job, error,
        )  # fmt: skip
        return failure(job_id, error) if not job.should_retry else _retry_outcome(job, task, error)

    if isinstance(error, AbortException | UnstorableResultError):
        job.retries = job.max_retries  # type: ignore[assignment]
        job.status = JobStatus.FAILED
        logger.warning("%s aborted after %.3fs: %s", job, duration, error)
        signals.job_failed.send(namespace, job=job, err=error)
        return failure(job_id, error)

    if job.should_retry:
        job.retries += 1
        job.status = JobStatus.NOT_SET
        outcome = _retry_outcome(job, task, error)
        # The job waits for its retry (get_job says WAITING); job.status stays NOT_SET for
        # the job_schedule_retry receivers, as in 0.0.25, so the line names the state itself.
        logger.warning(
            "Job <%s WAITING %s> failed after %.3fs, retry %s of %s at %s: %r",
            job.task_name,
            job.id,
            duration,
            job.retries,
            job.max_retries,
            job.at.isoformat(),
            error,
        )
        signals.job_schedule_retry.send(namespace, job=job, err=error)
        return outcome

    job.status = JobStatus.FAILED
    logger.error(
        "%s failed for good after %.3fs (%s/%s retries)",
        job,
        duration,
        job.retries,
        job.max_retries,
        exc_info=error,
    )
    signals.job_failed.send(namespace, job=job, err=error)
    return failure(job_id, error)


def _retry_outcome(job: Job, task: Task | None, error: BaseException) -> Outcome:
    text = describe_error(error)
    # A RetryException is the task asking for a retry: its own frames say nothing of a failure.
    trace = "" if isinstance(error, RetryException) else describe_traceback(error)
    if isinstance(error, RetryException) and error.at is not None:
        job.at = utc(error.at)
        return Outcome("R", job.job_id, to_epoch_ms(job.at), text, trace)
    delay = (task.retry_policy if task else DEFAULT_RETRY_POLICY).delay(job.retries)
    job.at = now_utc() + delay
    return Outcome("r", job.job_id, max(0, -(-delay // _MS)), text, trace)
