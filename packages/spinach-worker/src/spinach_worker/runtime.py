"""The worker runtime: wires an executor, the fetcher and the acker, and stops them cleanly.

Graceful stop, in order: stop fetching (a fetch in flight hands its jobs back), hand the jobs
fetched but not started back to the head of the queue, let running jobs finish, record every
outcome, then exit. No job is left in a record that nothing will clean up.
"""

import logging
import os
import signal
import threading
import time
import uuid
from types import FrameType
from typing import TYPE_CHECKING, Any

from spinach import const
from spinach.brokers.base import TRANSIENT_ERRORS
from spinach.exc import SpinachError
from spinach.keys import validate_queue
from spinach_worker.acker import Acker
from spinach_worker.backoff import Backoff
from spinach_worker.fetcher import Fetcher
from spinach_worker.workers import BaseWorkers, ThreadWorkers

if TYPE_CHECKING:
    from spinach.engine import Engine

logger = logging.getLogger("spinach.worker")


class WorkerStopped(SpinachError):
    """The workers stopped on a fatal error; the process should exit non-zero."""


class WorkerRuntime:
    """Run the jobs of one queue of an Engine until stopped.

    `lease_seconds` is how long a fetched job is reserved for this worker.
    """

    def __init__(
        self,
        engine: "Engine",
        number: int = const.DEFAULT_WORKER_NUMBER,
        queue: str = const.DEFAULT_QUEUE,
        stop_when_queue_empty: bool = False,
        workers_class: type[BaseWorkers] | None = None,
        lease_seconds: float = const.DEFAULT_LEASE_SECONDS,
    ) -> None:
        if number <= 0:
            raise ValueError("The number of workers must be at least one")
        self._engine = engine
        self._broker = engine.broker
        self._namespace = engine.namespace
        self._queue = validate_queue(queue)
        self._number = number
        self._workers_class: Any = workers_class or ThreadWorkers
        self._stop_when_queue_empty = stop_when_queue_empty
        self._lease_ms = int(lease_seconds * 1000)
        self.worker_id = uuid.uuid4().hex
        self._stop_requested = threading.Event()
        self._stopped = threading.Event()
        self._join_lock = threading.Lock()
        self._blocking = False
        self._fatal: BaseException | None = None

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    @property
    def last_fetch(self) -> float | None:
        """time.monotonic() of the last successful fetch (None before the first)."""
        return self._fetcher.last_fetch

    @property
    def last_ack(self) -> float | None:
        """time.monotonic() of the last recorded batch of outcomes (None before the first)."""
        return self._acker.last_ack

    def start(self) -> None:
        self._warn_unsupported()
        ns = self._namespace
        self._workers: BaseWorkers = self._workers_class(self._number, ns)
        self._acker = Acker(self._broker, self._workers.out_queue, name=f"{ns}-acker")
        self._fetcher = Fetcher(
            self._broker,
            self._engine.tasks,
            self._workers,
            self._queue,
            self.worker_id,
            self._lease_ms,
            on_queue_empty=self._queue_drained if self._stop_when_queue_empty else None,
            settled=self._settled,
            on_fatal=self._on_fatal,
            name=f"{ns}-fetcher",
        )
        self._acker.start()
        self._fetcher.start()
        logger.info("Started %d workers on queue %s of namespace %s", self._number, self._queue, ns)

    def _warn_unsupported(self) -> None:
        for task in self._engine.tasks:
            if task.periodicity is not None or task.max_concurrency is not None:
                logger.warning(
                    "Task %s declares periodicity or max_concurrency, which this version of "
                    "Spinach does not enforce yet: it runs as a plain task",
                    task.name,
                )

    def stop(self) -> None:
        """Ask for a graceful stop; returns at once (see join)."""
        self._stop_requested.set()
        self._fetcher.stop()

    def join(self) -> None:
        """Finish the graceful stop: hand back unstarted jobs, wait for running ones."""
        with self._join_lock:
            if self._stopped.is_set():
                return
            self._fetcher.join()
            unstarted = self._workers.take_unstarted()
            if unstarted:
                self._release([str(job.id) for job in unstarted])
            self._workers.stop()
            self._acker.give_up_retrying_after(30.0)
            self._acker.join()
            self._stopped.set()
            logger.info("Workers of queue %s stopped", self._queue)

    def _release(self, job_ids: list[str]) -> None:
        backoff = Backoff()
        deadline = time.monotonic() + 30.0
        while True:
            try:
                self._broker.release(self._queue, job_ids)
                logger.info("Handed %d unstarted jobs back to queue %s", len(job_ids), self._queue)
                return
            except TRANSIENT_ERRORS as e:
                if time.monotonic() > deadline:
                    logger.error(
                        "Could not hand %d unstarted jobs back (%s): their leases will expire "
                        "and recovery will take them over",
                        len(job_ids),
                        e,
                    )
                    return
                time.sleep(backoff.next_delay())

    def _queue_drained(self, settled_before_fetch: bool) -> bool:
        """Called by the fetcher when Redis holds nothing ready or delayed for the queue.

        Stop if nothing ran here either when that fetch was made. Otherwise wait for local jobs
        to finish and be recorded (one of them may schedule a retry), and let the fetcher look
        again.
        """
        if settled_before_fetch:
            self._request_stop()
            return True
        while not self._settled() and not self._stop_requested.is_set():
            self._acker.wait_idle(0.05)
        return self._stop_requested.is_set()

    def _settled(self) -> bool:
        """Whether no job is running here and every outcome was recorded."""
        return self._workers.idle and self._acker.idle

    def _on_fatal(self, error: BaseException) -> None:
        self._fatal = error
        self._request_stop()

    def _request_stop(self) -> None:
        self._stop_requested.set()
        if not self._blocking:
            threading.Thread(target=self._stop_and_join, name=f"{self._namespace}-stopper").start()

    def _stop_and_join(self) -> None:
        self.stop()
        self.join()

    def run_until_stopped(self) -> None:
        """Block until the workers stop; SIGTERM/SIGINT starts a graceful stop, a second exits."""
        self._blocking = True
        previous = self._install_signal_handlers()
        try:
            while not self._stop_requested.wait(1.0):
                pass
            self.stop()
            self.join()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if self._fatal is not None:
            raise WorkerStopped(f"Workers stopped on a fatal error: {self._fatal}") from self._fatal

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if self._stop_requested.is_set():
                logger.warning("Second stop signal: exiting now, running jobs are abandoned")
                os._exit(1)
            logger.info("Received %s: stopping gracefully", signal.Signals(signum).name)
            self._stop_requested.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)
        return previous
