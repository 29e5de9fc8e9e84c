"""What stops a running job before it ends by itself: its task's time limit, or a cancel.

The worker raises these in the task's thread (asyncio: it cancels the task's coroutine).
They derive from BaseException, as KeyboardInterrupt does, so that the ``except Exception:``
blocks of task code do not swallow them: a stopped task unwinds, its ``finally`` blocks run.
"""

from datetime import timedelta

from spinach.utils import checked_duration


class JobInterrupted(BaseException):
    """The worker stopped this run before it ended (catch this for both reasons below)."""

    #: What it says when raised without a message (the worker raises the class in a thread).
    default_message = "the worker stopped this run"

    def __str__(self) -> str:
        return super().__str__() or self.default_message


class TimeLimitExceeded(JobInterrupted):
    """The run lasted longer than its task's `time_limit`: it fails (retried if it may be)."""

    default_message = "the run lasted longer than its task's time_limit: it is being stopped"


class JobCancelled(JobInterrupted):
    """`Engine.cancel` asked for this job while it ran: it ends as cancelled, never retried."""

    default_message = "Engine.cancel asked for this job while it ran: it is being stopped"


#: The shortest limit taken: a worker checks deadlines this often at best.
MIN_TIME_LIMIT = timedelta(milliseconds=10)
#: The longest: a limit bounds one run, and a worker's clock waits no longer than that.
MAX_TIME_LIMIT = timedelta(days=365)


def checked_time_limits(
    what: str, hard: timedelta | float | None, soft: timedelta | float | None
) -> tuple[float | None, float | None]:
    """(time_limit, soft_time_limit) in seconds, None where unset; a clear error otherwise."""
    hard_seconds = _seconds(f"{what}: time_limit", hard)
    soft_seconds = _seconds(f"{what}: soft_time_limit", soft)
    if hard_seconds is not None and soft_seconds is not None and soft_seconds >= hard_seconds:
        raise ValueError(
            f"{what}: soft_time_limit ({soft_seconds:g} s) must be shorter than time_limit "
            f"({hard_seconds:g} s): it warns before the run is stopped"
        )
    return hard_seconds, soft_seconds


def _seconds(what: str, value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    limit = checked_duration(what, value)
    if not MIN_TIME_LIMIT <= limit <= MAX_TIME_LIMIT:
        raise ValueError(
            f"{what} must be from {MIN_TIME_LIMIT.total_seconds():g} s to "
            f"{MAX_TIME_LIMIT.days} days, got {limit.total_seconds():g} s"
        )
    return limit.total_seconds()
