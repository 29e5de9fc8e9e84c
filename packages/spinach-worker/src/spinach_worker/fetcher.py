"""The fetcher: takes as many jobs as there are free threads in one script call.

The same call carries the outcomes of the jobs that finished since the last one, so under load
one round trip both records results and brings the next jobs. When the queue is empty it blocks
on Redis until a wake-up token arrives: an enqueue on its queue, an alarm for the next due job
or lease deadline, or a stop. It never polls, and enqueues on other queues never wake it.
"""

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from spinach.exc import BrokerAuthError, BrokerConnectionError
from spinach.protocol import FetchResult, Lease
from spinach.retrying import REFUSALS, TRANSIENT_ERRORS, Backoff, refusal, retry
from spinach_worker.acker import Acker
from spinach_worker.alarm import Alarm
from spinach_worker.arbiter import DirectSlots, Slots
from spinach_worker.context import WorkerContext
from spinach_worker.decoding import CorruptJobError, UnknownJobTask, build_job
from spinach_worker.reporter import Reporter
from spinach_worker.workers import BaseWorkers

logger = logging.getLogger("spinach.worker")

#: Longest a busy fetcher waits for half of its threads to be free before fetching for fewer.
#: It bounds the idle time of a thread under load; longer windows mean fuller fetches.
BATCH_WINDOW = 0.002

#: Longest a fetcher asleep on an empty queue goes without checking whether the jobs fetched
#: ahead of its threads should go back (see BaseWorkers.shed_surplus).
SHED_CHECK = 1.0


class Fetcher:
    """Feed `workers` with jobs of the context's queue until stopped."""

    #: Test hook: called with the ids of every non-empty fetch before its jobs are handed on
    #: (the fault tests stop the process there, to pause a worker between fetch and start).
    _after_fetch: Callable[[list[str]], None] | None = None

    def __init__(
        self,
        ctx: WorkerContext,
        workers: BaseWorkers,
        acker: Acker,
        reporter: Reporter,
        stop_when_queue_empty: bool,
        settled: Callable[[], bool],
        wait_settled: Callable[[], None],
        on_drained: Callable[[], bool],
        on_fatal: Callable[[BaseException], None],
        name: str,
        slots: Slots | None = None,
        lane: int = 0,
    ) -> None:
        self._ctx = ctx
        #: Who hands this fetcher free slots of the executor: the executor itself, or the
        #: arbiter that shares it with the fetchers of the worker's other queues.
        self._slots: Slots = DirectSlots(workers) if slots is None else slots
        self._lane = lane
        self._workers = workers
        self._acker = acker
        self._reporter = reporter
        self._stop_when_queue_empty = stop_when_queue_empty
        self._settled = settled
        self._wait_settled = wait_settled
        self._on_drained = on_drained
        self._on_fatal = on_fatal
        self._stopping = threading.Event()
        self._alarm = Alarm(self._wake, name=f"{name}-alarm")
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        #: time.monotonic() of the last successful fetch (None before the first).
        self.last_fetch: float | None = None
        #: time.monotonic() of the last turn of the loop, for the watchdog.
        self.last_turn = time.monotonic()
        #: Whether the loop ended because the queue was drained (stop_when_queue_empty).
        self.drained = False

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Stop fetching; a fetch in flight hands its jobs back to the queue."""
        self._stopping.set()
        self._slots.release()
        self._wake()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the fetch loop to end; return False if it is still stuck after `timeout`."""
        self.thread.join(timeout)
        if self.thread.is_alive():
            return False
        self._alarm.close()
        with contextlib.suppress(*TRANSIENT_ERRORS):  # the private list expires by itself
            self._ctx.broker.clear_worker_wake(self._ctx.queue, self._ctx.worker_id)
        return True

    def wake(self) -> None:
        """End the fetcher's wait for work: it fetches again now."""
        self._wake()

    def _wake(self) -> None:
        try:
            self._ctx.broker.wake_worker(self._ctx.queue, self._ctx.worker_id)
        except TRANSIENT_ERRORS as e:
            logger.debug("Could not wake the fetcher: %s", e)

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as e:
            logger.exception("The fetcher stopped on an unexpected error")
            self._on_fatal(e)
        finally:
            self._acker.carrier_busy = False  # nothing carries outcomes any more

    def _loop(self) -> None:
        ctx = self._ctx
        backoff = Backoff()
        busy = False
        recover = True  # expired leases are taken back by the first fetch and after a sleep
        while not self._stopping.is_set():
            self.last_turn = time.monotonic()
            self._shed_surplus()
            # Work waiting in Redis (busy): gather a few free threads first, so that one round
            # trip fetches several jobs instead of one per finished job.
            free = self._slots.acquire(
                self._lane,
                timeout=1.0,
                min_free=max(1, self._workers.capacity // 2) if busy else 1,
                window=BATCH_WINDOW if busy else 0.0,
            )
            if free <= 0 or self._stopping.is_set():
                self._acker.carrier_busy = False  # no fetch now: the acker sends the outcomes
                self._slots.done(self._lane, free, 0, more=True)  # it asks again at once
                continue
            settled = self._stop_when_queue_empty and self._settled()
            outcomes = self._acker.take()
            sent_at = time.monotonic()
            try:
                result = ctx.broker.fetch(
                    ctx.queue,
                    free,
                    ctx.lease_ms,
                    ctx.task_names,
                    worker_id=ctx.worker_id,
                    outcomes=outcomes,
                    recover=recover,
                )
            except REFUSALS as e:
                self._slots.done(self._lane, free, 0, more=False)
                if outcomes:
                    self._acker.give_back(outcomes)
                raise refusal(e, "fetch jobs") from None
            except TRANSIENT_ERRORS as e:
                self._acker.carrier_busy = False  # it waits: the acker sends the outcomes
                self._slots.done(self._lane, free, 0, more=False)
                if outcomes:
                    self._acker.give_back(outcomes)
                delay = backoff.next_delay()
                logger.warning("Could not fetch jobs, retrying in %.1fs: %s", delay, e)
                self._stopping.wait(delay)
                continue
            except BaseException:
                self._slots.done(self._lane, free, 0, more=False)
                if outcomes:
                    self._acker.give_back(outcomes)
                raise
            self.last_fetch = self.last_turn = time.monotonic()
            if outcomes:
                self._acker.settle(outcomes, result.rejected, result.signals)
            if backoff.failures:
                logger.info("Fetching from Redis again after %d failures", backoff.failures)
            backoff.reset()
            ctx.book.add([Lease(fetched.id, fetched.token) for fetched in result.jobs], sent_at)
            hook = Fetcher._after_fetch
            if hook is not None and result.jobs:
                hook([fetched.id for fetched in result.jobs])
            if self._stopping.is_set():
                self._slots.done(self._lane, free, 0, more=False)
                self._hand_back(result)
                return
            busy = result.ready_left > 0
            self._acker.carrier_busy = busy  # it fetches again at once: outcomes ride along
            try:
                self._dispatch(result)
            finally:  # the executor counts the dispatched jobs: the reservation is over
                self._slots.done(self._lane, free, len(result.jobs), more=busy)
            if result.jobs and not busy:
                # Let a thread woken for these jobs take the GIL now: else it waits until this
                # loop's next blocking call, after its bookkeeping (a pickup's last 0.1-0.2 ms).
                time.sleep(0)
            recover = False
            if len(result.jobs) == free and busy:
                continue  # more work waiting: fetch again as soon as threads free up
            if (
                self._stop_when_queue_empty
                and result.ready_left == result.delayed_left == result.held_ready == 0
            ):
                # Nothing anywhere, nothing here when we looked: stop once every queue of the
                # worker is found so (else look again when woken).
                if settled and not result.jobs and result.running_left == 0 and self._on_drained():
                    self.drained = True
                    return
                if not settled or result.jobs:
                    # A local job, or an outcome, was pending when this fetch began, or this
                    # fetch brought jobs: a job may still schedule a retry. Wait for them,
                    # turning the loop so that the watchdog sees a live fetcher however long
                    # the job runs, then look again.
                    while not self._settled() and not self._stopping.is_set():
                        self.last_turn = time.monotonic()
                        self._shed_surplus()  # jobs fetched ahead may not wait behind a long run
                        self._wait_settled()
                    continue
            recover = self._sleep(result)

    def _shed_surplus(self) -> None:
        """Hand back the jobs fetched ahead that the runs no longer allow (they grew longer)."""
        shed = self._workers.shed_surplus()
        if not shed:
            return
        logger.info(
            "Handing %d jobs fetched ahead back to their queue: the runs grew longer", len(shed)
        )
        self._workers.on_shed(shed)

    def _sleep(self, result: FetchResult) -> bool:
        """Wait for work; return whether the next fetch should look for expired leases."""
        if result.ready_left > 0:
            return False
        wake_ms = result.next_wake_ms
        # +1 ms: the alarm measures with this host's clock, the due time is Redis's.
        wake = None if wake_ms is None else (wake_ms + 1) / 1000
        if self._workers.may_shed:
            # Jobs fetched ahead wait here: look again soon, to hand them back if the runs
            # grow long meanwhile (nothing else wakes a fetcher asleep on an empty queue).
            wake = SHED_CHECK if wake is None else min(wake, SHED_CHECK)
        self._alarm.set(wake)
        broker = self._ctx.broker
        try:
            broker.wait_for_wake(self._ctx.queue, self._ctx.worker_id, broker.max_block_seconds)
        except TRANSIENT_ERRORS as e:
            logger.warning("Lost Redis while waiting for jobs: %s", e)
            self._stopping.wait(Backoff().next_delay())
        return True

    def _dispatch(self, result: FetchResult) -> None:
        ctx = self._ctx
        stale: list[Lease] = []
        for fetched in result.jobs:
            lease = Lease(fetched.id, fetched.token)
            if not ctx.book.vouches(lease):
                # Paused since the fetch was sent: the job, and any report of it, may be
                # another worker's by now.
                stale.append(lease)
                continue
            if fetched.abandoned:
                self._reporter.report(fetched)
                continue
            try:
                job, task = build_job(fetched, ctx.tasks)
            except (UnknownJobTask, CorruptJobError):
                self._reporter.report(fetched)
                continue
            # Its lease lives in the queue it was fetched from: its outcome is recorded there.
            job.queue = ctx.queue
            if job.should_retry:
                ctx.book.mark_retryable(fetched.id)
            self._workers.submit_job(job, task)
        if stale:
            logger.warning(
                "Not starting %d fetched jobs: their leases may have expired while this worker "
                "was paused; they are handed back if Redis still holds them for this worker",
                len(stale),
            )
            self.hand_back(stale)

    def _hand_back(self, result: FetchResult) -> None:
        leases = [Lease(fetched.id, fetched.token) for fetched in result.jobs]
        if self.hand_back(leases):
            logger.info("Handed fetched jobs back to queue %s while stopping", self._ctx.queue)

    def hand_back(self, leases: list[Lease], attempts: int = 1) -> bool:
        """Put fetched jobs that will not start here back at the head of the queue, in order.

        Fenced: only the leases Redis still holds for this worker are handed back; the others
        are another worker's by now. Sent up to `attempts` times through lost connections.
        Returns whether the call went through.
        """
        held = self._ctx.book.take(leases)
        if not held:
            return False
        try:
            retry(
                lambda: self._ctx.broker.release(self._ctx.queue, held),
                f"hand {len(held)} fetched jobs back",
                attempts=attempts,
                stop=self._stopping,
                log=logger,
            )
        except (BrokerAuthError, BrokerConnectionError, *TRANSIENT_ERRORS) as e:
            logger.warning(
                "Could not hand %d fetched jobs back (%s): recovery will take them over when "
                "their leases expire", len(held), e,
            )  # fmt: skip
            return False
        return True
