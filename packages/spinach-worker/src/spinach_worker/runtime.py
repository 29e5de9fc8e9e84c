"""The worker runtime: wires an executor, the fetcher, the acker and the heartbeat, and stops them.

Graceful stop, in order: stop fetching (a fetch in flight hands its jobs back), hand the jobs
fetched but not started back to the head of the queue, let running jobs finish until the
shutdown timeout, record every outcome, then exit. Jobs still running at the timeout are handed
back if they may run again; the others keep their lease until it expires, and recovery reports
them failed. No job is left in a record that nothing will clean up.
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
from spinach.exc import SpinachError
from spinach.job import Job
from spinach.keys import validate_queue
from spinach.protocol import Lease
from spinach.retrying import TRANSIENT_ERRORS, Backoff, retry
from spinach_worker import __version__, telemetry
from spinach_worker.acker import Acker
from spinach_worker.context import WorkerContext
from spinach_worker.fetcher import Fetcher
from spinach_worker.health import HealthServer, since
from spinach_worker.heartbeat import Heartbeat
from spinach_worker.housekeeping import Housekeeper
from spinach_worker.leases import LeaseBook
from spinach_worker.periodic import PeriodicScheduler
from spinach_worker.reporter import Reporter
from spinach_worker.watchdog import Watchdog
from spinach_worker.workers import BaseWorkers, ThreadWorkers, checked_prefetch

if TYPE_CHECKING:
    from spinach.engine import Engine

logger = logging.getLogger("spinach.worker")

#: A fetch loop silent for this long (beyond its own longest wait) is reported stuck.
STUCK_FETCHER_SECONDS = 60.0


class WorkerStopped(SpinachError):
    """The workers stopped on a fatal error; the process should exit non-zero."""


class WorkerRuntime:
    """Run the jobs of one queue of an Engine until stopped.

    `lease_seconds`: how long a fetched job stays reserved without a heartbeat. The heartbeat
    renews leases every third of it. A shorter lease recovers the jobs of a dead worker sooner;
    a longer one tolerates longer pauses (GC, a saturated host, a Redis failover) before a live
    worker's jobs are handed to another one.

    `shutdown_timeout`: how long a graceful stop waits for running jobs (None: as long as they
    take, as Spinach 0.0.25 did).
    """

    def __init__(
        self,
        engine: "Engine",
        number: int = const.DEFAULT_WORKER_NUMBER,
        queue: str = const.DEFAULT_QUEUE,
        stop_when_queue_empty: bool = False,
        workers_class: type[BaseWorkers] | None = None,
        lease_seconds: float = const.DEFAULT_LEASE_SECONDS,
        shutdown_timeout: float | None = None,
        health_port: int | None = None,
        health_host: str = "0.0.0.0",
        prefetch: int = 0,
    ) -> None:
        if number <= 0:
            raise ValueError("The number of workers must be at least one")
        self._prefetch = checked_prefetch(prefetch)  # before any thread starts
        if lease_seconds < 0.3:
            raise ValueError("lease_seconds must be at least 0.3")
        self._engine = engine
        self._number = number
        self._workers_class: Any = workers_class or ThreadWorkers
        self._stop_when_queue_empty = stop_when_queue_empty
        self._shutdown_timeout = shutdown_timeout
        self.ctx = WorkerContext(
            broker=engine.broker,
            tasks=engine.tasks,
            namespace=engine.namespace,
            queue=validate_queue(queue),
            worker_id=uuid.uuid4().hex,
            lease_ms=int(lease_seconds * 1000),
            book=LeaseBook(lease_seconds),
            task_names=tuple(task.name for task in engine.tasks if task.queue == queue),
        )
        self._health = (
            None
            if health_port is None
            else HealthServer(health_host, health_port, self.liveness, self.readiness)
        )
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
        """Start the threads, once Redis answered the worker's first calls.

        Everything start-up sends to Redis goes through the one reconnecting path: a worker
        started while Redis is down says so once per attempt and starts as soon as it answers.
        Credentials Redis refuses, or data of another schema, raise at once.
        """
        ctx = self.ctx
        ns = ctx.namespace
        self._workers: BaseWorkers = self._workers_class(self._number, ns)
        self._workers.prefetch = self._prefetch
        self._workers.vouches = self._vouches
        self._workers.on_not_started = self._not_started
        beat = ctx.lease_ms / 3000
        self._acker = Acker(
            ctx.broker, ctx.book, self._workers.out_queue, ctx.queue, name=f"{ns}-acker"
        )
        self._reporter = Reporter(
            ctx.tasks, ns, ctx.queue, ctx.book, self._workers.out_queue, name=f"{ns}-reporter"
        )
        self._fetcher = Fetcher(
            ctx,
            self._workers,
            self._acker,
            self._reporter,
            stop_when_queue_empty=self._stop_when_queue_empty,
            settled=self._settled,
            wait_settled=self._wait_settled,
            on_drained=self._request_stop,
            on_fatal=self._on_fatal,
            name=f"{ns}-fetcher",
        )
        self._heartbeat = Heartbeat(ctx, interval=beat, name=f"{ns}-heartbeat")
        self._housekeeper = Housekeeper(
            ctx,
            interval=beat,
            threads=self._number,
            running_now=self._workers.running_now,
            version=__version__,
            name=f"{ns}-housekeeper",
        )
        self._watchdog = Watchdog(
            last_turn=lambda: self._fetcher.last_turn,
            thread=lambda: self._fetcher.thread,
            stuck_after=ctx.broker.max_block_seconds + STUCK_FETCHER_SECONDS,
            on_stuck=self._on_fatal,
            interval=beat,
            name=f"{ns}-watchdog",
        )
        self._scheduler = PeriodicScheduler(ctx, self._engine, refresh=beat, name=f"{ns}-periodic")
        try:
            retry(
                self._announce,
                f"start the workers of queue {ctx.queue}",
                stop=self._stop_requested,
                log=logger,
            )
        except BaseException:
            self._workers.stop(0)
            raise
        self._acker.start()
        self._reporter.start()
        self._heartbeat.start()
        self._housekeeper.start()
        self._watchdog.start()
        self._fetcher.start()
        self._scheduler.start()
        if self._health is not None:
            self._health.start()
        telemetry.observe_queue(ctx.broker, ctx.queue)
        logger.info(
            "Started %d workers on queue %s of namespace %s (lease %.1fs)",
            self._number, ctx.queue, ns, ctx.lease_ms / 1000,
        )  # fmt: skip

    @property
    def health_port(self) -> int | None:
        """The port of the health endpoints (useful when asked for port 0), if served."""
        return None if self._health is None else self._health.port

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        """The fetch loop turns: no Redis call, so a Redis outage does not fail it."""
        silent = time.monotonic() - self._fetcher.last_turn
        limit = self.ctx.broker.max_block_seconds + STUCK_FETCHER_SECONDS
        alive = self._fetcher.thread.is_alive() and silent < limit and self._fatal is None
        return alive, {"fetch_loop_silent_s": round(silent, 3), "stopped": self.stopped}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Redis answers and the worker takes jobs (it is not shutting down)."""
        details: dict[str, Any] = {
            "stopping": self._stop_requested.is_set(),
            "last_fetch_s_ago": since(self.last_fetch),
            "last_ack_s_ago": since(self.last_ack),
        }
        try:
            self.ctx.broker.ping()
        except Exception as e:  # noqa: BLE001 - any failure means not ready
            return False, {**details, "redis": str(e)}
        return not self._stop_requested.is_set(), {**details, "redis": "ok"}

    def _announce(self) -> None:
        """The start-up calls: publish this code's limits, register, take back dead leases.

        Every one of them checks the schema of the queue's data first.
        """
        self.ctx.broker.check_schema(self.ctx.queue)
        self._apply_code_limits()
        self._housekeeper.register()
        self._heartbeat.beat()

    def _vouches(self, job: Job) -> bool:
        return self.ctx.book.vouches(Lease(job.job_id, job._lease_token))

    def _not_started(self, job: Job) -> None:
        self._fetcher.hand_back([Lease(job.job_id, job._lease_token)])

    def _apply_code_limits(self) -> None:
        """Publish the concurrency limits this deployment's code declares for its tasks.

        Only this deployment's tasks are written, and an operator's override stays in force.
        """
        limits = [
            (task.name, task.max_concurrency)
            for task in self._engine.tasks
            if task.queue == self.ctx.queue
        ]
        if limits:
            self.ctx.broker.set_limits(self.ctx.queue, "code", limits)

    def stop(self) -> None:
        """Ask for a graceful stop; returns at once (see join)."""
        self._stop_requested.set()
        self._fetcher.stop()

    def join(self) -> None:
        """Finish the graceful stop: hand back unstarted jobs, wait for running ones."""
        with self._join_lock:
            if self._stopped.is_set():
                return
            ctx = self.ctx
            self._scheduler.stop()
            if not self._fetcher.join(timeout=2 * ctx.broker.max_block_seconds + 30):
                logger.error(
                    "The fetch loop is stuck (see the watchdog's report): stopping without it"
                )
            self._watchdog.stop()
            unstarted = self._workers.take_unstarted()
            if unstarted:
                leases = [Lease(job.job_id, job._lease_token) for job in unstarted]
                self._release(ctx.book.take(leases), "unstarted")
            self._reporter.stop()
            if not self._workers.stop(self._shutdown_timeout):
                self._abandon_running()
            self._acker.give_up_retrying_after(30.0)
            self._acker.join()
            self._heartbeat.stop()
            self._housekeeper.stop()
            if self._health is not None:
                self._health.stop()
            telemetry.forget_queue(ctx.broker, ctx.queue)
            self._stopped.set()
            logger.info("Workers of queue %s stopped", ctx.queue)

    def _abandon_running(self) -> None:
        """At the shutdown timeout: hand back running jobs that may run again elsewhere."""
        # Outcomes of jobs that did finish are recorded first: those jobs must not run again.
        self._acker.wait_idle(5.0)
        retryable = self.ctx.book.take_retryable()
        held = len(self.ctx.book)
        logger.warning(
            "Shutdown timeout of %ss reached with jobs still running: %d handed back to run "
            "again, %d left to lease recovery (they run at most once and will be reported failed)",
            self._shutdown_timeout, len(retryable), held,
        )  # fmt: skip
        if retryable:
            self._release(retryable, "interrupted")

    def _release(self, leases: list[Lease], what: str) -> None:
        backoff = Backoff()
        deadline = time.monotonic() + 30.0
        while True:
            try:
                released = self.ctx.broker.release(self.ctx.queue, leases)
                logger.info("Handed %d %s jobs back to queue %s", released, what, self.ctx.queue)
                return
            except TRANSIENT_ERRORS as e:
                if time.monotonic() > deadline:
                    logger.error(
                        "Could not hand %d %s jobs back (%s): their leases will expire and "
                        "recovery will take them over", len(leases), what, e,
                    )  # fmt: skip
                    return
                time.sleep(backoff.next_delay())

    def _wait_settled(self) -> None:
        """Wait a moment for local jobs to finish and their outcomes to be recorded."""
        self._acker.wait_idle(0.05)

    def _settled(self) -> bool:
        """Whether no job is running or being reported here and every outcome was recorded."""
        # In this order: an idle executor or reporter has handed the acker all it made.
        return self._workers.idle and self._reporter.idle and self._acker.idle

    def _on_fatal(self, error: BaseException) -> None:
        self._fatal = error
        self._request_stop()

    def _request_stop(self) -> None:
        self._stop_requested.set()
        if not self._blocking:
            threading.Thread(
                target=self._stop_and_join, name=f"{self.ctx.namespace}-stopper"
            ).start()

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
