"""The job a task runs as, reachable from the task's own code: threads and asyncio alike.

A worker sets it around each run (a context variable: each thread and each asyncio task sees
its own job, and `asyncio.to_thread` carries it along), and gives the job the sink of its
progress reports. Task code calls `spinach.current_job()`, then `job.report_progress(...)`.
"""

import math
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from spinach.job import Job

#: Longest progress message kept; a longer one is cut.
MAX_PROGRESS_MESSAGE = 200

_current: "ContextVar[Job | None]" = ContextVar("spinach_current_job", default=None)

#: Set by the worker for the run of one job (its executor resets it afterwards).
set_current = _current.set
reset_current = _current.reset


def current_job() -> "Job":
    """The job this code runs as; RuntimeError outside a job run by a worker."""
    job = _current.get()
    if job is None:
        raise RuntimeError(
            "spinach.current_job() is only available in a task run by a Spinach worker"
        )
    return job


class ProgressSink(Protocol):
    """Where a worker takes progress reports: it sends them to Redis, rate-limited."""

    def report(self, job: "Job", progress: str) -> None: ...

    def unsettled(self, job: "Job") -> bool: ...

    def settle(self, job: "Job") -> None: ...


def report_progress(job: "Job", fraction: float, message: str = "") -> None:
    """Hand a progress report of running `job` to its worker (it never waits for Redis)."""
    sink = job._reporter
    if sink is None:
        raise RuntimeError(
            f"Cannot report the progress of {job}: progress is reported from the task of a "
            "job a Spinach worker is running"
        )
    sink.report(job, progress_value(fraction, message))


def progress_value(fraction: float, message: str) -> str:
    """A report as records keep it, "<fraction>\\3<message>"; ValueError for a bad fraction."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise TypeError(f"progress must be a number from 0 to 1, got {fraction!r}")
    if not (math.isfinite(fraction) and 0 <= fraction <= 1):
        raise ValueError(f"progress must be a number from 0 to 1, got {fraction!r}")
    if not isinstance(message, str):
        raise TypeError(f"progress message must be a str, got {message!r}")
    # The record's separators are control bytes 0 to 3: none may reach it.
    text = message.translate(_SEPARATORS)[:MAX_PROGRESS_MESSAGE]
    return f"{float(fraction):.4g}\x03{text}"


_SEPARATORS = {code: " " for code in range(4)}


def parse_progress(value: str) -> tuple[float, str, int]:
    """(fraction, message, when in ms) of a record's `pg` field."""
    fraction, _, rest = value.partition("\x03")
    message, _, when = rest.rpartition("\x03")
    try:
        return float(fraction), message, int(when or 0)
    except ValueError:
        return 0.0, message, 0
