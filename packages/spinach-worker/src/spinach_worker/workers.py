"""ThreadWorkers: the default executor, a pool of named threads each running one job at a time.

The user's task code must be thread-safe (as with Spinach 0.0.25).
"""

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Protocol

from spinach import signals
from spinach.job import Job
from spinach.protocol import Outcome, RunningJob
from spinach.running import ProgressSink
from spinach.task import Task
from spinach.time_limits import JobCancelled
from spinach_worker import execution
from spinach_worker.deadlines import STOP_GRACE, DeadlineWatcher
from spinach_worker.interrupts import CANCEL, Run

logger = logging.getLogger("spinach.worker")

#: What the executor hands to the acker: the job's queue, its outcome and its lease token.
Result = tuple[str, Outcome, str]


class ResultQueue:
    """The executor's results on their way to the acker: a queue that counts what it was handed.

    "Every result handed over is recorded" is then a comparison of two counts. Testing the
    queue for emptiness instead misses a result the acker's thread has just taken and not yet
    counted as in hand (the thread may wait for the GIL a whole switch interval in between),
    and a worker draining its queue then sleeps as if another worker still ran that job.
    """

    __slots__ = ("_lock", "_queue", "handed")

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Result | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        #: Results put so far (the None that ends the output is not one).
        self.handed = 0

    def put(self, item: Result | None) -> None:
        if item is not None:
            with self._lock:  # counted before it can be taken
                self.handed += 1
        self._queue.put(item)

    def put_again(self, item: Result | None) -> None:
        """Give back an item taken from this queue: it was counted when first put."""
        self._queue.put(item)

    def get(self) -> Result | None:
        return self._queue.get()

    def get_nowait(self) -> Result | None:
        return self._queue.get_nowait()

    def empty(self) -> bool:
        return self._queue.empty()


class ResultRouter:
    """The executor's results of several queues, each put on the result queue of its own queue.

    Every queue has its own acker, which records outcomes with that queue's scripts. The None
    that ends the executor's output ends every acker.
    """

    __slots__ = ("_queues",)

    def __init__(self, queues: dict[str, ResultQueue]) -> None:
        self._queues = queues

    def put(self, item: Result | None) -> None:
        if item is None:
            for each in self._queues.values():
                each.put(None)
        else:
            self._queues[item[0]].put(item)


class ResultSink(Protocol):
    """Where the executor puts its results: one ResultQueue, or a ResultRouter."""

    def put(self, item: Result | None) -> None: ...


#: Auto prefetch, the default: a worker fetches ahead of its threads as many jobs as they finish
#: in about this long, by their recent run times, so that a thread that finishes finds its next
#: job waiting here instead of waiting a round trip to Redis. Runs longer than this times the
#: threads get nothing fetched ahead, and a thread held by a long run counts for nothing (see
#: shed_surplus, which also sends back what was fetched ahead beyond that).
PREFETCH_HORIZON = 0.005

#: Most jobs auto prefetch fetches ahead, per thread, and in all (an asyncio executor of
#: hundreds of coroutines would otherwise hold thousands of leases, in replies of megabytes).
AUTO_PREFETCH_PER_THREAD = 6
AUTO_PREFETCH_MAX = 256

#: A run still going after this long holds its thread: that thread counts for nothing in the
#: prefetch, and the jobs fetched ahead beyond what the other threads finish in the horizon go
#: back to their queue. Long enough that a run which waited a few milliseconds for the GIL is
#: not taken for a long one.
SHED_AFTER = 0.1

#: Weight of the latest run in the running mean of run times that auto prefetch follows.
_RUN_TIME_WEIGHT = 0.1


def checked_prefetch(jobs: int | None) -> int | None:
    """`jobs` if it is a whole number of jobs to prefetch or None (auto), else ValueError."""
    if jobs is None:
        return None
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
        raise ValueError(f"prefetch must be None (auto) or an int >= 0, got {jobs!r}")
    return jobs


def auto_prefetch(threads: int, mean_run_seconds: float | None) -> int:
    """Jobs to fetch ahead of `threads` whose runs take `mean_run_seconds` (None: none ran yet)."""
    if mean_run_seconds is None:
        return 0
    most = min(threads * AUTO_PREFETCH_PER_THREAD, AUTO_PREFETCH_MAX)
    if mean_run_seconds * most <= threads * PREFETCH_HORIZON:
        return most
    return int(threads * PREFETCH_HORIZON / mean_run_seconds)


#: Most ids of jobs cancelled before they started that an executor remembers.
_MAX_EARLY_CANCELS = 1000

#: Why a job fetched here ended without running.
NOT_STARTED = JobCancelled("it was cancelled before its worker started it")


def _always(job: Job) -> bool:
    return True


def _ignore(job: Job) -> None:
    return None


class BaseWorkers:
    """What the runtime needs from an executor: slots, submission, results and a clean stop."""

    def __init__(self, num_workers: int, namespace: str) -> None:
        if num_workers <= 0:
            raise ValueError("num_workers must be at least one")
        self._num_workers = num_workers
        #: Jobs this executor takes at once: its threads, plus the prefetched ones waiting.
        self._capacity = num_workers
        #: Whether the prefetched jobs follow the run times (auto prefetch, see PREFETCH_HORIZON).
        self._auto_prefetch = False
        #: Running mean of the run times, in seconds (None before the first run ends).
        self._run_seconds: float | None = None
        #: Runs going for SHED_AFTER or more when the fetcher last looked (see shed_surplus).
        self._long_runs = 0
        #: One shed at a time: two fetchers shedding at once would withdraw the surplus twice.
        self._shed_lock = threading.Lock()
        #: Hands back the jobs shed_surplus withdrew, newest first (the runtime sets it: one
        #: call per queue, in their order); by default each as a job that was not started.
        self.on_shed: Callable[[list[Job]], None] = self._not_started_each
        self._namespace = namespace
        #: (queue, outcome, lease token) of every job run, in completion order, for the acker.
        self.out_queue: ResultSink = ResultQueue()
        self._in_flight = 0
        self._slots = threading.Condition()
        self._waiters_released = False
        #: Free slots the waiting fetcher needs; a finished job wakes it only when reached, so
        #: under load the fetcher is not woken once per job.
        self._wanted = num_workers + 1
        self._stopping = False
        #: Whether this worker's clock still vouches for a job's lease (the runtime sets it from
        #: its LeaseBook). A job whose lease may have expired is not started: it may be another
        #: worker's by now, if this process was paused between the fetch and the start.
        self.vouches: Callable[[Job], bool] = _always
        #: What to do with a job that was not started for that reason (the runtime hands it
        #: back, fenced: only if Redis still holds the lease for this worker).
        self.on_not_started: Callable[[Job], None] = _ignore
        #: Called after a slot is freed, when several fetchers share this executor (the
        #: runtime's arbiter sets it); None: only `wait_for_slot` waits for slots.
        self.on_slot_free: Callable[[], None] | None = None
        #: What each thread (or coroutine) runs now: name -> (job, started ms), for the
        #: worker registry. A dict write per job: cheaper than any lock.
        self._current: dict[str, tuple[Job, int]] = {}
        #: Where the jobs run here send their progress reports (the runtime sets it).
        self.progress: ProgressSink | None = None
        #: The runs in progress, by job id: what a cancel or a time limit stops.
        self._runs: dict[str, Run] = {}
        #: Ids of jobs whose cancel was asked for before a thread took them up (bounded).
        self._cancel_early: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._deadlines = DeadlineWatcher(namespace, self._on_stuck, name=f"{namespace}-deadlines")

    @property
    def num_workers(self) -> int:
        return self._num_workers

    @property
    def prefetch(self) -> int:
        """Jobs fetched ahead of the threads, waiting here for the next free one (now)."""
        return self._capacity - self._num_workers

    @prefetch.setter
    def prefetch(self, jobs: int | None) -> None:
        """A fixed number of jobs, or None: as many as the threads finish in PREFETCH_HORIZON."""
        jobs = checked_prefetch(jobs)
        with self._slots:
            self._auto_prefetch = jobs is None
            self._capacity = self._num_workers + (self._auto_extra() if jobs is None else jobs)
            self._wanted = self._capacity + 1

    def _auto_extra(self) -> int:
        """Jobs to fetch ahead now, by the recent runs, the threads held by long runs aside."""
        threads = max(0, self._num_workers - self._long_runs)
        return auto_prefetch(threads, self._run_seconds)

    @property
    def capacity(self) -> int:
        """Jobs this executor takes at once: its threads plus the prefetched jobs."""
        return self._capacity

    @property
    def available_slots(self) -> int:
        """How many more jobs can be taken now."""
        return self._capacity - self._in_flight

    def can_accept_job(self) -> bool:
        return self.available_slots > 0

    @property
    def idle(self) -> bool:
        """Whether no job is waiting or running here."""
        return self._in_flight == 0

    def wait_for_slot(self, timeout: float | None = None, min_free: int = 1) -> int:
        """Block until `min_free` slots are free, `timeout` passed or waiters were released.

        Returns the number of free slots.
        """
        with self._slots:
            self._wanted = min_free
            self._slots.wait_for(
                # The capacity as it is now: auto prefetch may change it during the wait.
                lambda: self._capacity - self._in_flight >= min_free or self._waiters_released,
                timeout,
            )
            self._wanted = self._capacity + 1  # nobody waits: finished jobs notify no one
            return self._capacity - self._in_flight

    def release_waiters(self) -> None:
        """End every wait_for_slot at once, now and from now on (the fetcher is stopping)."""
        with self._slots:
            self._waiters_released = True
            self._slots.notify_all()

    def submit_job(self, job: Job, task: Task | None = None) -> None:
        """Queue `job` for the next free thread."""
        if self._stopping:
            raise RuntimeError("Cannot submit a job to workers that are stopping")
        if task is None:
            raise ValueError("submit_job needs the job's task")
        with self._slots:
            self._in_flight += 1
        self._push(job, task)

    def _done(self, job: Job, outcome: Outcome) -> None:
        self.out_queue.put((job.queue, outcome, job._lease_token))
        self._free(1)

    def _free(self, slots: int) -> None:
        with self._slots:
            if self._auto_prefetch:
                self._capacity = self._num_workers + self._auto_extra()
            self._in_flight -= slots
            if self._capacity - self._in_flight >= self._wanted:
                self._slots.notify_all()
        if self.on_slot_free is not None:
            self.on_slot_free()

    def running_now(self, queue: str | None = None) -> list[RunningJob]:
        """What each thread runs now, of `queue` or of all (the registry publishes it)."""
        return [
            RunningJob(job_id=job.job_id, task=job.task_name, thread=name, started_ms=started)
            for name, (job, started) in list(self._current.items())
            if queue is None or job.queue == queue
        ]

    def cancel(self, job_id: str) -> bool:
        """Stop job `job_id` if it runs here (its cancel was asked for); True if it does.

        A job fetched but not started yet is remembered: it is not started, and ends as
        cancelled when a thread takes it up.
        """
        # Remembered first, then looked up, while `_begin` registers a run first, then looks
        # for it here: whichever comes second sees the other, so no cancel slips between.
        self._cancel_early[job_id] = None
        while len(self._cancel_early) > _MAX_EARLY_CANCELS:
            self._cancel_early.popitem(last=False)
        run = self._runs.get(job_id)
        if run is None:
            return False
        self._cancel_early.pop(job_id, None)
        if run.interrupt(CANCEL):
            logger.info("Stopping %s: its cancel was asked for", run.job)
            self._deadlines.stopped(run)
        return True

    def _begin(self, job: Job, task: Task) -> Run | None:
        """The run of `job` about to start here, watched; None if it was cancelled already
        (it is then not started). A cancel from now on finds the run and stops it."""
        stop = Run(job, task)
        self._runs[job.job_id] = stop
        if self._cancel_early and self._cancel_early.pop(job.job_id, 0) is None:
            del self._runs[job.job_id]
            job._cancelled = True
            return None
        self._deadlines.watch(stop)
        return stop

    def _end(self, stop: Run) -> bool:
        """The run is over: forget it; False if its outcome was taken over meanwhile."""
        if self._auto_prefetch:
            elapsed = time.monotonic() - stop.started
            mean = self._run_seconds
            self._run_seconds = (
                elapsed if mean is None else mean + _RUN_TIME_WEIGHT * (elapsed - mean)
            )
        own = stop.end()
        if self._runs.get(stop.job.job_id) is stop:
            del self._runs[stop.job.job_id]
        self._deadlines.forget(stop)
        return own

    def _on_stuck(self, run: Run) -> None:
        """A stopped run did not unwind within its grace (a blocking call): see subclasses."""
        logger.warning(
            "%s has not stopped yet: it is blocked in a call Python cannot interrupt", run.job
        )

    def _skip(self, job: Job) -> None:
        """Give up a job without running it: its lease may be another worker's by now."""
        logger.warning(
            "Not starting %s: its lease may have expired while this worker was paused "
            "(this worker's clock can no longer vouch for it), so another worker may own it",
            job,
        )
        self._free(1)
        try:
            self.on_not_started(job)
        except Exception:
            logger.exception("Could not hand %s back", job)

    @property
    def may_shed(self) -> bool:
        """Whether jobs fetched ahead by auto prefetch may be waiting here (see shed_surplus)."""
        return self._auto_prefetch and self._in_flight > self._num_workers

    def shed_surplus(self) -> list[Job]:
        """With auto prefetch, withdraw the unstarted jobs beyond what the runs allow now.

        The fetcher calls it on every turn. A run going for SHED_AFTER or more holds its thread,
        which then counts for nothing in the prefetch (a job longer than the ones before it cuts
        the prefetch without waiting for its end); the jobs fetched ahead beyond the new
        capacity are withdrawn, newest first and never started, for the caller to hand back to
        their queue. Nothing to do under a fixed prefetch.
        """
        if not self._auto_prefetch:
            return []
        with self._shed_lock:
            now = time.monotonic()
            runs = list(self._runs.values())
            long_runs = sum(1 for run in runs if now - run.started >= SHED_AFTER)
            with self._slots:
                self._long_runs = long_runs
                self._capacity = self._num_workers + self._auto_extra()
                surplus = self._in_flight - self._capacity
            if surplus <= 0 or long_runs == 0:
                return []
            jobs = self._pop_newest(surplus)
            if jobs:
                with self._slots:
                    self._in_flight -= len(jobs)
                    self._slots.notify_all()
        if jobs and self.on_slot_free is not None:
            self.on_slot_free()
        return jobs

    def _not_started_each(self, jobs: list[Job]) -> None:
        for job in jobs:  # newest first, each to the head of its queue: their order is kept
            self.on_not_started(job)

    def take_unstarted(self) -> list[Job]:
        """Withdraw the jobs that no thread has started yet, in submission order."""
        jobs = self._pop_all()
        if jobs:
            with self._slots:
                self._in_flight -= len(jobs)
                self._slots.notify_all()
            if self.on_slot_free is not None:
                self.on_slot_free()
        return jobs

    def _push(self, job: Job, task: Task) -> None:
        raise NotImplementedError

    def _pop_all(self) -> list[Job]:
        raise NotImplementedError

    def _pop_newest(self, count: int) -> list[Job]:
        """Withdraw up to `count` of the jobs no thread has started, newest first."""
        raise NotImplementedError

    def stop(self, timeout: float | None = None) -> bool:
        """Let started jobs finish (for up to `timeout` s), end the threads, close out_queue.

        Returns whether every job finished. Threads still running a job after the timeout are
        left behind (they are daemons): their jobs' leases decide what happens next.
        """
        raise NotImplementedError


class ThreadWorkers(BaseWorkers):
    """Run jobs on `num_workers` threads named ``<namespace>-worker-<n>``."""

    def __init__(self, num_workers: int, namespace: str) -> None:
        super().__init__(num_workers, namespace)
        self._in_queue: queue.SimpleQueue[tuple[Job, Task] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(
                target=self._worker,
                args=(f"{namespace}-worker-{i}",),
                name=f"{namespace}-worker-{i}",
                daemon=True,
            )
            for i in range(1, num_workers + 1)
        ]
        for thread in self._threads:
            thread.start()
        self._replace_lock = threading.Lock()
        #: Threads started in place of threads stuck in a stopped job.
        self._replaced = 0

    def _push(self, job: Job, task: Task) -> None:
        self._in_queue.put((job, task))

    def _pop_newest(self, count: int) -> list[Job]:
        items, pills = self._drain()
        keep = max(0, len(items) - count)
        for item in [*items[:keep], *([None] * pills)]:  # back, in their order
            self._in_queue.put(item)
        return [job for job, _ in reversed(items[keep:])]

    def _pop_all(self) -> list[Job]:
        items, pills = self._drain()
        for _ in range(pills):
            self._in_queue.put(None)
        return [job for job, _ in items]

    def _drain(self) -> tuple[list[tuple[Job, Task]], int]:
        """Take everything off the queue: the waiting jobs, and how many stop pills it held."""
        items: list[tuple[Job, Task]] = []
        pills = 0
        while True:
            try:
                item = self._in_queue.get_nowait()
            except queue.Empty:
                return items, pills
            if item is None:
                pills += 1
            else:
                items.append(item)

    def _worker(self, name: str) -> None:
        signals.worker_started.send(self._namespace, worker_name=name)
        current = self._current
        try:
            while True:
                item = self._in_queue.get()
                if item is None:
                    break
                job, task = item
                if not self.vouches(job):
                    self._skip(job)
                    continue
                stop = self._begin(job, task)
                if stop is None:
                    self._done(job, execution.cancelled(job, self._namespace, NOT_STARTED))
                    continue
                current[name] = (job, time.time_ns() // 1_000_000)
                job._reporter = self.progress
                try:
                    outcome = execution.run(job, task, self._namespace, self.vouches, stop)
                except BaseException as e:
                    logger.exception("Unexpected error while running %s", job)
                    outcome = execution.failure(job.job_id, e)
                if not self._end(stop):
                    # Taken over: its outcome was recorded and this thread replaced while
                    # it was blocked. It leaves quietly: the pool has its size already.
                    logger.info("%s ended at last, after its outcome was recorded", job)
                    return
                del current[name]
                if self.progress is not None and self.progress.unsettled(job):
                    self.progress.settle(job)  # its last report before its outcome
                self._done(job, outcome)
        finally:
            signals.worker_terminated.send(self._namespace, worker_name=name)

    def _on_stuck(self, run: Run) -> None:
        """Record the outcome of a run stopped but blocked in a call, and replace its thread."""
        if not run.take_over():
            return  # it ended meanwhile
        job = run.job
        logger.warning(
            "%s did not stop within %g s (blocked in a call Python cannot interrupt, or "
            "carrying on after catching the stop): its "
            "outcome is recorded now and its thread replaced; the call goes on in the "
            "background until it returns, and what it brings is discarded", job, STOP_GRACE,
        )  # fmt: skip
        if self._runs.get(job.job_id) is run:
            del self._runs[job.job_id]
        for name, (running, _) in list(self._current.items()):
            if running is job:
                self._current.pop(name, None)
        try:
            self._replace(run.ident)
        except Exception:  # the job's outcome goes out all the same: its slot and lease too
            logger.exception("Could not start a thread in place of the one running %s", job)
        if self.progress is not None and self.progress.unsettled(job):
            self.progress.settle(job)
        outcome = execution.finish(
            job, run.task, self._namespace, run.error(), run.started, self.vouches
        )
        self._done(job, outcome)

    def _replace(self, ident: int | None) -> None:
        """Start a thread in place of thread `ident`, stuck in a job taken over from it."""
        with self._replace_lock:
            self._replaced += 1
            name = f"{self._namespace}-worker-{self._num_workers + self._replaced}"
            thread = threading.Thread(target=self._worker, args=(name,), name=name, daemon=True)
            self._threads = [t for t in self._threads if t.ident != ident] + [thread]
            thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        self._stopping = True
        for _ in range(self._num_workers):
            self._in_queue.put(None)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:  # a thread replaced meanwhile is joined in its replacement's place
            with self._replace_lock:
                waiting = [thread for thread in self._threads if thread.is_alive()]
            if not waiting:
                break
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            # In slices: a thread taken over while joined is then let go of.
            waiting[0].join(STOP_GRACE if left is None else min(left, STOP_GRACE))
        self._deadlines.stop()
        self.out_queue.put(None)
        with self._replace_lock:
            return not any(thread.is_alive() for thread in self._threads)

    def __repr__(self) -> str:
        return f"<ThreadWorkers {self._num_workers} threads, {self._in_flight} jobs in flight>"
