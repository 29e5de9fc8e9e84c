"""Stopping a running job: one job's run as the executor, the deadline watcher and the cancel
listener share it.

A thread is stopped the way Dramatiq stops one: an exception raised in it asynchronously
(``PyThreadState_SetAsyncExc``). The interpreter raises it at the thread's next bytecode, so
a blocking C call (``time.sleep``, a socket read) is only interrupted once it returns: the
executor then takes the job's outcome over from the stuck thread and replaces the thread (see
`ThreadWorkers`). An asyncio job is stopped by cancelling the task that awaits it.

The exception is only ever raised while the thread is inside the task's function: the run's
lock orders the raise against the thread leaving the function, and a thread that leaves it
with an exception still pending clears it, so no interrupt ever lands in the worker's own code.
"""

import asyncio
import ctypes
import threading
import time
from typing import TYPE_CHECKING

from spinach.time_limits import JobCancelled, JobInterrupted, TimeLimitExceeded

if TYPE_CHECKING:
    from spinach.job import Job
    from spinach.task import Task

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_set_async_exc.restype = ctypes.c_int

#: Why a run was stopped.
TIME_LIMIT = "time limit"
CANCEL = "cancel"

# Where a run is: before the task's function, inside it, after it, over, or its outcome taken
# over by the executor from a thread that did not stop in time.
_BEFORE, _CALLING, _AFTER, _ENDED, _TAKEN_OVER = 0, 1, 2, 3, 4


def raise_in_thread(ident: int, error: type[BaseException]) -> bool:
    """Have thread `ident` raise `error` at its next bytecode; False if there is no such thread."""
    return bool(_set_async_exc(ident, error) == 1)


def clear_in_thread(ident: int) -> None:
    """Drop the exception raised in thread `ident` that it has not met yet, if any."""
    _set_async_exc(ident, ctypes.py_object())


class Run:
    """One job's run by one thread (or asyncio task): what stopping it needs."""

    __slots__ = (
        "_lock",
        "_loop",
        "_loop_cancelled",
        "_sent",
        "_state",
        "_task_handle",
        "ident",
        "job",
        "reason",
        "started",
        "task",
    )

    def __init__(self, job: "Job", task: "Task") -> None:
        self.job = job
        self.task = task
        self.ident = threading.get_ident()
        self.started = time.monotonic()
        #: Why it was stopped (TIME_LIMIT or CANCEL), None while nobody asked.
        self.reason: str | None = None
        self._lock = threading.Lock()
        self._state = _BEFORE
        self._sent = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task_handle: asyncio.Task[object] | None = None
        #: Whether the loop-side cancel was done (the consumer task owes an uncancel()).
        self._loop_cancelled = False

    def on_loop(self, loop: asyncio.AbstractEventLoop, task: "asyncio.Task[object]") -> None:
        """This run is a coroutine awaited by `task` on `loop`: stopping it cancels `task`."""
        self._loop, self._task_handle = loop, task

    # -- the thread (or coroutine) running the job ---------------------------------------

    def enter(self) -> None:
        """The task's function is about to be called; raises at once if it was stopped before
        (a cancel that came between the fetch and now)."""
        with self._lock:
            if self._state != _BEFORE:
                return  # only ever entered once
            self._state = _CALLING
            early = self.reason is not None and not self._sent
            self._sent = self._sent or early
        if early:
            raise _ERRORS[self.reason or CANCEL]()

    def leave(self) -> bool:
        """The task's function returned or raised: no interrupt may land from now on. Returns
        whether the executor took the run's outcome over meanwhile (its thread then records
        nothing: not its outcome, nor its signals)."""
        with self._lock:
            if self._state == _CALLING:
                self._state = _AFTER
            if self._sent and self._loop is None:
                clear_in_thread(self.ident)  # sent, and not met yet: it must never be
            return self._state == _TAKEN_OVER

    def end(self) -> bool:
        """The run is over; False if the executor took its outcome over meanwhile (the thread
        then discards its own outcome)."""
        with self._lock:
            if self._state == _TAKEN_OVER:
                return False
            self._state = _ENDED
            return True

    # -- whoever stops it ------------------------------------------------------------------

    def interrupt(self, reason: str) -> bool:
        """Stop the run for `reason`; True if the stop was sent into the task's function (it
        then gets its grace), False if the run has not entered it yet (it raises as it does),
        has left it, or was stopped already."""
        if reason == CANCEL:
            self.job._cancelled = True  # for cooperative code, whatever happens next
        with self._lock:
            if self._sent or self._state > _CALLING:
                return False
            self.reason = self.reason or reason
            if self._state == _BEFORE:
                return False  # enter() raises it
            self._sent = True
            if self._loop is None:
                return raise_in_thread(self.ident, _ERRORS[reason])
        self._loop.call_soon_threadsafe(self._cancel_on_loop)
        return True

    def _cancel_on_loop(self) -> None:
        # On the loop's thread: if the coroutine is still in the task's function, it is
        # suspended in it now, and the cancel lands there.
        if self._state == _CALLING and self._task_handle is not None:
            self._loop_cancelled = True
            self._task_handle.cancel()

    @property
    def loop_cancelled(self) -> bool:
        """Whether this run cancelled its consumer task (which then owes an uncancel())."""
        return self._loop_cancelled

    def take_over(self) -> bool:
        """Take the run's outcome from a thread still in the task's function after its grace;
        False once it left it (its own outcome then comes)."""
        with self._lock:
            if self._state != _CALLING:
                return False
            self._state = _TAKEN_OVER
            return True

    @property
    def taken_over(self) -> bool:
        return self._state == _TAKEN_OVER

    @property
    def ended(self) -> bool:
        return self._state in (_ENDED, _TAKEN_OVER)

    def error(self, raised: BaseException | None = None) -> JobInterrupted:
        """The error the run ends with, stopped for its reason; `raised` keeps its traceback."""
        if self.reason == TIME_LIMIT:
            error: JobInterrupted = TimeLimitExceeded(
                f"{self.job} ran longer than the time limit of task {self.task.name!r} "
                f"({self.task.time_limit:g} s) and was stopped"
            )
        else:
            error = JobCancelled(f"{self.job} was cancelled while it ran and was stopped")
        if raised is not None:
            error = error.with_traceback(raised.__traceback__)
        return error


_ERRORS: dict[str, type[BaseException]] = {TIME_LIMIT: TimeLimitExceeded, CANCEL: JobCancelled}
