"""The fetcher: takes as many jobs as there are free threads in one script call.

When the queue is empty it blocks on Redis until a wake-up token arrives: an enqueue on its
queue, an alarm for the next due job, or a stop. It never polls, and enqueues on other queues
never wake it.
"""

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from spinach.brokers.base import TRANSIENT_ERRORS, Broker, FetchResult, Outcome
from spinach.exc import UnknownTask
from spinach.job import Job
from spinach.task import Tasks
from spinach_worker import execution
from spinach_worker.alarm import Alarm
from spinach_worker.backoff import Backoff
from spinach_worker.decoding import CorruptJobError, UnknownJobTask, build_job
from spinach_worker.workers import BaseWorkers

logger = logging.getLogger("spinach.worker")


class Fetcher:
    """Feed `workers` with jobs of `queue` until stopped."""

    def __init__(
        self,
        broker: Broker,
        tasks: Tasks,
        workers: BaseWorkers,
        queue: str,
        worker_id: str,
        lease_ms: int,
        on_queue_empty: Callable[[bool], bool] | None,
        settled: Callable[[], bool],
        on_fatal: Callable[[BaseException], None],
        name: str,
    ) -> None:
        self._broker = broker
        self._tasks = tasks
        self._workers = workers
        self._queue = queue
        self._worker_id = worker_id
        self._lease_ms = lease_ms
        self._on_queue_empty = on_queue_empty
        self._settled = settled
        self._on_fatal = on_fatal
        self._stopping = threading.Event()
        self._alarm = Alarm(self._wake, name=f"{name}-alarm")
        self._thread = threading.Thread(target=self._run, name=name)
        self.last_fetch: float | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop fetching; a fetch in flight hands its jobs back to the queue."""
        self._stopping.set()
        self._wake()

    def join(self) -> None:
        self._thread.join()
        self._alarm.close()
        with contextlib.suppress(*TRANSIENT_ERRORS):  # the private list expires by itself
            self._broker.clear_worker_wake(self._queue, self._worker_id)

    def _wake(self) -> None:
        try:
            self._broker.wake_worker(self._queue, self._worker_id)
        except TRANSIENT_ERRORS as e:
            logger.debug("Could not wake the fetcher: %s", e)

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as e:
            logger.exception("The fetcher stopped on an unexpected error")
            self._on_fatal(e)

    def _loop(self) -> None:
        backoff = Backoff()
        while not self._stopping.is_set():
            free = self._workers.wait_for_slot(timeout=1.0)
            if free <= 0 or self._stopping.is_set():
                continue
            settled = self._on_queue_empty is not None and self._settled()
            try:
                result = self._broker.fetch(self._queue, free, self._lease_ms)
            except TRANSIENT_ERRORS as e:
                delay = backoff.next_delay()
                logger.warning("Could not fetch jobs, retrying in %.1fs: %s", delay, e)
                self._stopping.wait(delay)
                continue
            backoff.reset()
            self.last_fetch = time.monotonic()
            if self._stopping.is_set():
                self._hand_back(result)
                return
            self._dispatch(result)
            if len(result.jobs) == free and result.ready_left > 0:
                continue  # more work waiting: fetch again as soon as a thread frees up
            if self._on_queue_empty is not None and result.ready_left == result.delayed_left == 0:
                if self._on_queue_empty(settled and not result.jobs):
                    return
                continue  # local jobs settled meanwhile (a retry may be waiting): look again
            self._sleep(result)

    def _sleep(self, result: FetchResult) -> None:
        if result.ready_left > 0:
            return
        if result.next_due_ms is not None:
            # +1 ms: the alarm measures with this host's clock, the due time is Redis's.
            self._alarm.set((result.next_due_ms + 1) / 1000)
        else:
            self._alarm.set(None)
        try:
            self._broker.wait_for_wake(self._queue, self._worker_id, self._broker.max_block_seconds)
        except TRANSIENT_ERRORS as e:
            logger.warning("Lost Redis while waiting for jobs: %s", e)
            self._stopping.wait(Backoff().next_delay())

    def _dispatch(self, result: FetchResult) -> None:
        for fetched in result.jobs:
            try:
                job, task = build_job(fetched, self._tasks)
            except UnknownJobTask as e:
                self._fail_unrunnable(e.job, e)
                continue
            except CorruptJobError as e:
                logger.error("%s; it is removed from queue %s", e, self._queue)
                self._workers.out_queue.put((self._queue, Outcome("f", fetched.id)))
                continue
            self._workers.submit_job(job, task)

    def _fail_unrunnable(self, job: Job, error: UnknownTask) -> None:
        logger.error("%s", error)
        outcome = execution.conclude(job, None, self._broker.namespace, error)
        self._workers.out_queue.put((job.queue, outcome))

    def _hand_back(self, result: FetchResult) -> None:
        ids = [fetched.id for fetched in result.jobs]
        if ids:
            self._broker.release(self._queue, ids)
            logger.info(
                "Handed %d fetched jobs back to queue %s while stopping", len(ids), self._queue
            )
