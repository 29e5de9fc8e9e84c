"""Run workers from a framework's command (``flask spinach``, ``manage.py spinach``), saying so.

A person starting workers in a terminal sees what runs, and after Ctrl-C how many running jobs
the stop waits for and for how long. The workers run in a thread of their own while this
thread handles SIGINT and SIGTERM as spinach-worker does: the first stops gracefully, a second
exits at once.
"""

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from spinach import signals
from spinach.engine import Engine

#: How often the waiting thread wakes to see whether a stop was asked for (seconds).
_POLL_SECONDS = 0.2


class _RunningJobs:
    """How many jobs of a namespace run in this process, from the job signals."""

    def __init__(self, namespace: str) -> None:
        self._namespace = namespace
        self._lock = threading.Lock()
        self.count = 0

    def _started(self, sender: str, **kwargs: Any) -> None:
        with self._lock:
            self.count += 1

    def _finished(self, sender: str, **kwargs: Any) -> None:
        with self._lock:
            self.count -= 1

    def __enter__(self) -> "_RunningJobs":
        signals.job_started.connect(self._started, sender=self._namespace, weak=False)
        signals.job_finished.connect(self._finished, sender=self._namespace, weak=False)
        return self

    def __exit__(self, *exc: object) -> None:
        signals.job_started.disconnect(self._started, sender=self._namespace)
        signals.job_finished.disconnect(self._finished, sender=self._namespace)


def run_workers(
    engine: Engine,
    say: Callable[[str], None],
    *,
    number: int,
    queue: str,
    stop_when_queue_empty: bool,
    shutdown_timeout: float | None,
) -> None:
    """Run the engine's workers until they stop, telling `say` when they start and stop.

    Raises what `Engine.start_workers` raises (SpinachError when spinach-worker is missing or
    the workers stopped on a fatal error).
    """
    options: dict[str, Any] = {
        "number": number,
        "queue": queue,
        "stop_when_queue_empty": stop_when_queue_empty,
        "shutdown_timeout": shutdown_timeout,
    }
    until = " until the queue is empty" if stop_when_queue_empty else ""
    started = (
        f"Running {number} workers on queue {queue!r} of namespace {engine.namespace!r}"
        f"{until}; Ctrl-C to stop"
    )
    if threading.current_thread() is not threading.main_thread():  # no signals to handle here
        say(started)
        engine.start_workers(block=True, **options)
        say("Workers stopped")
        return

    stop_asked = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop_asked.is_set():
            say("Second stop signal: exiting now, running jobs are abandoned")
            os._exit(1)
        stop_asked.set()

    failure: list[BaseException] = []

    def work() -> None:
        try:
            engine.start_workers(block=True, **options)
        except BaseException as e:  # noqa: BLE001 - handed to the command's thread
            failure.append(e)

    with _RunningJobs(engine.namespace) as running:
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            say(started)
            thread = threading.Thread(target=work, name=f"{engine.namespace}-workers")
            thread.start()
            told = False
            while thread.is_alive():
                if stop_asked.is_set():
                    if not told:
                        say(_stopping(running.count, shutdown_timeout))
                        told = True
                    engine.stop_workers()  # again if the workers were still starting
                thread.join(_POLL_SECONDS)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if failure:
        raise failure[0]
    say("Workers stopped")


def _stopping(running: int, timeout: float | None) -> str:
    if running == 0:
        return "Stopping: no job is running"
    jobs = "1 running job" if running == 1 else f"{running} running jobs"
    limit = "as long as they take" if timeout is None else f"up to {timeout:g}s"
    return f"Stopping: waiting {limit} for {jobs} to finish; Ctrl-C again to exit at once"
