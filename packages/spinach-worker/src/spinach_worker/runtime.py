"""The worker runtime: wires an executor, the fetcher, the acker and the heartbeat, and stops them.

A worker may consume several queues. Every Redis script works on one queue, so each queue has
its own lane: a fetcher, an acker, a reporter, a heartbeat, a housekeeper, a watchdog and a
periodic scheduler, with the queue's own leases. The lanes share the executor, whose free
slots the arbiter hands out (strict order or by weight, see `spinach_worker.queues`).

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

from spinach import const
from spinach.exc import SpinachError
from spinach.job import Job
from spinach.protocol import Lease
from spinach.retrying import TRANSIENT_ERRORS, Backoff, retry
from spinach_worker import __version__, telemetry
from spinach_worker.acker import Acker
from spinach_worker.arbiter import SlotArbiter, Slots
from spinach_worker.cancel_listener import CancelListener
from spinach_worker.context import WorkerContext
from spinach_worker.fetcher import Fetcher
from spinach_worker.health import HealthServer, since
from spinach_worker.heartbeat import Heartbeat
from spinach_worker.housekeeping import Housekeeper
from spinach_worker.leases import LeaseBook
from spinach_worker.periodic import PeriodicScheduler
from spinach_worker.progress import ProgressBoard
from spinach_worker.queues import QueuePlan, QueueSpec, parse_queues
from spinach_worker.relay import Relay
from spinach_worker.reporter import Reporter
from spinach_worker.watchdog import Watchdog
from spinach_worker.workers import (
    BaseWorkers,
    ResultQueue,
    ResultRouter,
    ThreadWorkers,
    checked_prefetch,
)

if TYPE_CHECKING:
    from spinach.engine import Engine

#: Attempts at handing back the jobs fetched ahead that a long run keeps from starting here.
SHED_ATTEMPTS = 5

logger = logging.getLogger("spinach.worker")

#: A fetch loop silent for this long (beyond its own longest wait) is reported stuck.
STUCK_FETCHER_SECONDS = 60.0


class WorkerStopped(SpinachError):
    """The workers stopped on a fatal error; the process should exit non-zero."""


@dataclass(eq=False)
class Lane:
    """The parts of a worker that serve one of its queues."""

    ctx: WorkerContext
    acker: Acker
    reporter: Reporter
    fetcher: Fetcher
    heartbeat: Heartbeat
    housekeeper: Housekeeper
    watchdog: Watchdog
    scheduler: PeriodicScheduler
    relay: Relay


class WorkerRuntime:
    """Run the jobs of one queue, or of several, of an Engine until stopped.

    `queue`: a queue name, or several queues (see `spinach_worker.queues.parse_queues`): in
    strict order (``["high", "default"]``) or by weight (``["high:5", "default:1"]``).

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
        queue: QueueSpec = const.DEFAULT_QUEUE,
        stop_when_queue_empty: bool = False,
        workers_class: type[BaseWorkers] | None = None,
        lease_seconds: float = const.DEFAULT_LEASE_SECONDS,
        shutdown_timeout: float | None = None,
        health_port: int | None = None,
        health_host: str = "0.0.0.0",
        prefetch: int | None = None,
    ) -> None:
        if number <= 0:
            raise ValueError("The number of workers must be at least one")
        self._prefetch = checked_prefetch(prefetch)  # before any thread starts
        if lease_seconds < 0.3:
            raise ValueError("lease_seconds must be at least 0.3")
        self.plan: QueuePlan = parse_queues(queue)
        self._engine = engine
        self._number = number
        self._workers_class: Any = workers_class or ThreadWorkers
        self._stop_when_queue_empty = stop_when_queue_empty
        self._shutdown_timeout = shutdown_timeout
        worker_id = uuid.uuid4().hex  # one worker, on each of its queues
        #: The fixed facts of each queue, in the plan's order.
        self.contexts = [
            WorkerContext(
                broker=engine.broker,
                tasks=engine.tasks,
                namespace=engine.namespace,
                queue=name,
                worker_id=worker_id,
                lease_ms=int(lease_seconds * 1000),
                book=LeaseBook(lease_seconds),
                task_names=tuple(task.name for task in engine.tasks if task.queue == name),
            )
            for name in self.plan.queues
        ]
        self._health = (
            None
            if health_port is None
            else HealthServer(health_host, health_port, self.liveness, self.readiness)
        )
        self._stop_requested = threading.Event()
        self._cancels: CancelListener | None = None
        self._stopped = threading.Event()
        self._join_lock = threading.Lock()
        self._blocking = False
        self._fatal: BaseException | None = None
        #: Queues found empty (stop_when_queue_empty), with the relays' move count then.
        self._drained: dict[str, int] = {}
        self._moves = 0
        self._drained_lock = threading.Lock()
        self._lanes: list[Lane] = []

    @property
    def ctx(self) -> WorkerContext:
        """The context of the first queue (the only one of a single-queue worker)."""
        return self.contexts[0]

    @property
    def queues(self) -> tuple[str, ...]:
        return self.plan.queues

    @property
    def _fetcher(self) -> Fetcher:
        return self._lanes[0].fetcher

    @property
    def _heartbeat(self) -> Heartbeat:
        return self._lanes[0].heartbeat

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    @property
    def last_fetch(self) -> float | None:
        """time.monotonic() of the last successful fetch, of any queue (None before the first)."""
        return _latest(lane.fetcher.last_fetch for lane in self._lanes)

    @property
    def last_ack(self) -> float | None:
        """time.monotonic() of the last recorded batch of outcomes (None before the first)."""
        return _latest(lane.acker.last_ack for lane in self._lanes)

    def start(self) -> None:
        """Start the threads, once Redis answered the worker's first calls.

        Everything start-up sends to Redis goes through the one reconnecting path: a worker
        started while Redis is down says so once per attempt and starts as soon as it answers.
        Credentials Redis refuses, or data of another schema, raise at once.
        """
        ns = self.ctx.namespace
        self._workers: BaseWorkers = self._workers_class(self._number, ns)
        self._workers.prefetch = self._prefetch
        self._workers.vouches = self._vouches
        self._workers.on_not_started = self._not_started
        self._workers.on_shed = self._shed
        self._progress = ProgressBoard(
            {ctx.queue: ctx.broker for ctx in self.contexts}, name=f"{ns}-progress"
        )
        self._workers.progress = self._progress
        several = len(self.contexts) > 1
        slots: Slots | None = None
        outputs = {ctx.queue: ResultQueue() for ctx in self.contexts}
        if several:
            # Each queue's outcomes go to its own acker; the arbiter shares the threads.
            self._workers.out_queue = ResultRouter(outputs)
            slots = SlotArbiter(self._workers, len(self.contexts), self.plan.weights)
        else:
            self._workers.out_queue = outputs[self.ctx.queue]
        for lane, ctx in enumerate(self.contexts):
            prefix = f"{ns}-{ctx.queue}" if several else ns
            self._lanes.append(self._lane(ctx, outputs[ctx.queue], slots, lane, prefix))
        try:
            retry(
                self._announce,
                f"start the workers of queue {self.plan.describe()}",
                stop=self._stop_requested,
                log=logger,
            )
        except BaseException:
            self._workers.stop(0)
            self._lanes = []
            raise
        self._progress.start()
        self._cancels = CancelListener(
            self.ctx.broker, self._workers.cancel, name=f"{ns}-cancel-listener"
        )
        self._cancels.start()
        for each in self._lanes:
            each.acker.start()
            each.relay.start()
            each.reporter.start()
            each.heartbeat.start()
            each.housekeeper.start()
            each.watchdog.start()
            each.fetcher.start()
            each.scheduler.start()
            telemetry.observe_queue(each.ctx.broker, each.ctx.queue)
        if self._health is not None:
            self._health.start()
        logger.info(
            "Started %d workers on queue%s %s%s of namespace %s (lease %.1fs)",
            self._number, "s" if several else "", self.plan.describe(),
            "" if not several else " (strict order)" if self.plan.strict else " (by weight)",
            ns, self.ctx.lease_ms / 1000,
        )  # fmt: skip

    def _lane(
        self, ctx: WorkerContext, source: ResultQueue, slots: Slots | None, lane: int, prefix: str
    ) -> Lane:
        """The parts that serve the context's queue, threads not started."""
        beat = ctx.lease_ms / 3000
        relay = Relay(ctx, name=f"{prefix}-relay", on_moved=self._on_moved)
        settled, wait_settled = self._settled, self._wait_settled
        of_queue: str | None = None  # one queue: every job here is of it
        if slots is not None:
            of_queue = ctx.queue
            # The executor is shared: this queue is settled once its own jobs are, however
            # busy the other queues keep the threads.
            settled = _no_lease_held(ctx, relay)
            wait_settled = self._wait_a_moment
        acker = Acker(ctx.broker, ctx.book, source, ctx.queue, name=f"{prefix}-acker")
        acker.on_signals = relay.poke
        reporter = Reporter(
            ctx.tasks, ctx.namespace, ctx.queue, ctx.book, source, name=f"{prefix}-reporter"
        )
        fetcher = Fetcher(
            ctx,
            self._workers,
            acker,
            reporter,
            stop_when_queue_empty=self._stop_when_queue_empty,
            settled=settled,
            wait_settled=wait_settled,
            on_drained=self._on_drained(ctx.queue),
            on_fatal=self._on_fatal,
            name=f"{prefix}-fetcher",
            slots=slots,
            lane=lane,
        )
        return Lane(
            ctx=ctx,
            acker=acker,
            reporter=reporter,
            fetcher=fetcher,
            heartbeat=Heartbeat(
                ctx, interval=beat, name=f"{prefix}-heartbeat", on_cancelled=self._cancel_all
            ),
            housekeeper=Housekeeper(
                ctx,
                interval=beat,
                threads=self._number,
                running_now=lambda: self._workers.running_now(of_queue),
                version=__version__,
                name=f"{prefix}-housekeeper",
            ),
            watchdog=Watchdog(
                last_turn=lambda: fetcher.last_turn,
                thread=lambda: fetcher.thread,
                stuck_after=ctx.broker.max_block_seconds + STUCK_FETCHER_SECONDS,
                on_stuck=self._on_fatal,
                interval=beat,
                name=f"{prefix}-watchdog",
            ),
            scheduler=PeriodicScheduler(ctx, self._engine, refresh=beat, name=f"{prefix}-periodic"),
            relay=relay,
        )

    @property
    def health_port(self) -> int | None:
        """The port of the health endpoints (useful when asked for port 0), if served."""
        return None if self._health is None else self._health.port

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        """Every fetch loop turns: no Redis call, so a Redis outage does not fail it."""
        now = time.monotonic()
        limit = self.ctx.broker.max_block_seconds + STUCK_FETCHER_SECONDS
        silent = {lane.ctx.queue: now - lane.fetcher.last_turn for lane in self._lanes}
        alive = self._fatal is None and all(
            lane.fetcher.drained
            or (lane.fetcher.thread.is_alive() and silent[lane.ctx.queue] < limit)
            for lane in self._lanes
        )
        details: dict[str, Any] = {
            "fetch_loop_silent_s": round(max(silent.values(), default=0.0), 3),
            "stopped": self.stopped,
        }
        if len(self._lanes) > 1:
            details["fetch_loop_silent_s_by_queue"] = {q: round(v, 3) for q, v in silent.items()}
        return alive, details

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
        """The start-up calls, on each queue: publish this code's limits, register, take back
        dead leases.

        Every one of them checks the schema of the queue's data first.
        """
        for lane in self._lanes:
            lane.ctx.broker.check_schema(lane.ctx.queue)
            self._apply_code_limits(lane.ctx.queue)
            lane.housekeeper.register()
            lane.heartbeat.beat()

    def _cancel_all(self, job_ids: list[str]) -> None:
        """Stop jobs whose cancel a lease renewal found (the message may have been missed)."""
        for job_id in job_ids:
            self._workers.cancel(job_id)

    def _lane_of(self, job: Job) -> Lane:
        for lane in self._lanes:
            if lane.ctx.queue == job.queue:
                return lane
        return self._lanes[0]  # a custom executor's job: the only queue's, as before

    def _vouches(self, job: Job) -> bool:
        return self._lane_of(job).ctx.book.vouches(Lease(job.job_id, job._lease_token))

    def _not_started(self, job: Job) -> None:
        self._lane_of(job).fetcher.hand_back([Lease(job.job_id, job._lease_token)])

    def _shed(self, jobs: list[Job]) -> None:
        """Hand back jobs fetched ahead that will not start here (`jobs` newest first): one
        call per queue, oldest first, so each queue gets them back at its head in order; a few
        attempts through a lost connection, as their leases are still good."""
        by_lane: dict[Lane, list[Lease]] = {}
        for job in reversed(jobs):
            by_lane.setdefault(self._lane_of(job), []).append(Lease(job.job_id, job._lease_token))
        for lane, leases in by_lane.items():
            lane.fetcher.hand_back(leases, attempts=SHED_ATTEMPTS)

    def _apply_code_limits(self, queue: str) -> None:
        """Publish the concurrency limits this deployment's code declares for its tasks.

        Only this deployment's tasks are written, and an operator's override stays in force.
        """
        limits = [
            (task.name, task.max_concurrency) for task in self._engine.tasks if task.queue == queue
        ]
        if limits:
            self.ctx.broker.set_limits(queue, "code", limits)

    def stop(self) -> None:
        """Ask for a graceful stop; returns at once (see join)."""
        self._stop_requested.set()
        for lane in self._lanes:
            lane.fetcher.stop()

    def join(self) -> None:
        """Finish the graceful stop: hand back unstarted jobs, wait for running ones."""
        with self._join_lock:
            if self._stopped.is_set():
                return
            lanes = self._lanes
            for lane in lanes:
                lane.scheduler.stop()
            for lane in lanes:
                if not lane.fetcher.join(timeout=2 * lane.ctx.broker.max_block_seconds + 30):
                    logger.error(
                        "The fetch loop of queue %s is stuck (see the watchdog's report): "
                        "stopping without it", lane.ctx.queue,
                    )  # fmt: skip
            for lane in lanes:
                lane.watchdog.stop()
            unstarted = self._workers.take_unstarted()
            for lane in lanes:
                leases = [
                    Lease(job.job_id, job._lease_token)
                    for job in unstarted
                    if self._lane_of(job) is lane
                ]
                if leases:
                    self._release(lane.ctx, lane.ctx.book.take(leases), "unstarted")
            for lane in lanes:
                lane.reporter.stop()
            if not self._workers.stop(self._shutdown_timeout):
                self._abandon_running()
            self._progress.stop()
            if self._cancels is not None:
                self._cancels.stop()
            for lane in lanes:
                lane.acker.give_up_retrying_after(30.0)
            for lane in lanes:
                lane.acker.join()
            for lane in lanes:
                lane.relay.stop()  # after the last outcomes: their signals go out first
            for lane in lanes:
                lane.heartbeat.stop()
                lane.housekeeper.stop()
            if self._health is not None:
                self._health.stop()
            for lane in lanes:
                telemetry.forget_queue(lane.ctx.broker, lane.ctx.queue)
            self._stopped.set()
            logger.info("Workers of queue %s stopped", self.plan.describe())

    def _abandon_running(self) -> None:
        """At the shutdown timeout: hand back running jobs that may run again elsewhere."""
        # Outcomes of jobs that did finish are recorded first: those jobs must not run again.
        for lane in self._lanes:
            lane.acker.wait_idle(5.0)
        for lane in self._lanes:
            retryable = lane.ctx.book.take_retryable()
            held = len(lane.ctx.book)
            logger.warning(
                "Shutdown timeout of %ss reached with jobs of queue %s still running: %d handed "
                "back to run again, %d left to lease recovery (they run at most once and will "
                "be reported failed)", self._shutdown_timeout, lane.ctx.queue, len(retryable), held,
            )  # fmt: skip
            if retryable:
                self._release(lane.ctx, retryable, "interrupted")

    def _release(self, ctx: WorkerContext, leases: list[Lease], what: str) -> None:
        backoff = Backoff()
        deadline = time.monotonic() + 30.0
        while True:
            try:
                released = ctx.broker.release(ctx.queue, leases)
                logger.info("Handed %d %s jobs back to queue %s", released, what, ctx.queue)
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
        for lane in self._lanes:
            lane.acker.wait_idle(0.05 / len(self._lanes))

    def _settled(self) -> bool:
        """Whether no job is running or being reported here and every outcome was recorded."""
        # In this order: an idle executor or reporter has handed the acker all it made.
        return (
            self._workers.idle
            and all(lane.reporter.idle for lane in self._lanes)
            and all(lane.acker.idle for lane in self._lanes)
            and all(lane.relay.idle for lane in self._lanes)
        )

    def _wait_a_moment(self) -> None:
        """Wait a moment for a queue's local jobs to finish, in a worker of several queues."""
        self._stop_requested.wait(0.01)

    def _on_drained(self, queue: str) -> Callable[[], bool]:
        """What the fetcher of `queue` calls once it found it empty: stop once all are.

        Workflow signals relayed here may start jobs in a queue found empty before: the
        queues must all be found empty since the last move of a relay, or they look again.
        Returns whether the worker stops.
        """

        def drained() -> bool:
            with self._drained_lock:
                self._drained[queue] = self._moves
                done = len(self._drained) == len(self.contexts) and all(
                    seen == self._moves for seen in self._drained.values()
                )
            if done:
                self._request_stop()
            return done

        return drained

    def _on_moved(self) -> None:
        """A relay started or stopped workflow steps: the queues found empty look again."""
        with self._drained_lock:
            self._moves += 1
            again = [lane for lane in self._lanes if lane.ctx.queue in self._drained]
        for lane in again:
            lane.fetcher.wake()

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


def _latest(times: Iterable[float | None]) -> float | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _no_lease_held(ctx: WorkerContext, relay: Relay) -> Callable[[], bool]:
    """Whether every job of the context's queue fetched here has its outcome recorded (and
    the workflow signals of those outcomes relayed).

    A lease leaves the book once Redis recorded the job's outcome (or the job went back, or
    the lease was lost): an empty book is a settled queue, whatever the other queues run.
    """
    book = ctx.book
    return lambda: len(book) == 0 and relay.idle
