"""The deadline watcher: one thread per executor that stops runs past their time limit.

It keeps a heap of what is due: a run's soft limit (a warning), its hard limit (the run is
stopped), and the end of the grace a stopped run gets to unwind before the executor takes its
outcome over (see `ThreadWorkers`). It starts with the first deadline, so a worker whose tasks
have no limit and whose jobs are never cancelled runs no extra thread.
"""

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

from spinach import signals
from spinach_worker.interrupts import TIME_LIMIT, Run

logger = logging.getLogger("spinach.worker")

#: How long a stopped run has to unwind before its executor takes its outcome over.
STOP_GRACE = 1.0

_SOFT, _HARD, _GRACE = 0, 1, 2

#: Longest single wait of the watcher (it then looks at its heap again).
_LONGEST_WAIT = 3600.0

#: Fewest ended runs worth a sweep of the heap.
_SWEEP_AT = 64


class DeadlineWatcher:
    """Warn at soft limits, stop runs at hard ones, and hand over stuck ones after the grace."""

    def __init__(self, namespace: str, on_stuck: Callable[[Run], None], name: str) -> None:
        self._namespace = namespace
        #: What the executor does with a run that did not stop within its grace.
        self._on_stuck = on_stuck
        self._name = name
        self._due: list[tuple[float, int, int, Run]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        #: Runs ended since the heap was last swept (their entries wait in it until due).
        self._ended = 0

    def watch(self, run: Run) -> None:
        """Watch the limits of `run`'s task, from the run's start (none: nothing to do)."""
        task = run.task
        if task.soft_time_limit is not None:
            self._add(run.started + task.soft_time_limit, _SOFT, run)
        if task.time_limit is not None:
            self._add(run.started + task.time_limit, _HARD, run)

    def forget(self, run: Run) -> None:
        """Watched `run` ended: once ended runs fill half the heap, sweep them out, so that
        long limits keep no more than the runs in progress (and as many ended ones)."""
        task = run.task
        entries = (task.time_limit is not None) + (task.soft_time_limit is not None)
        if not entries:
            return  # never watched
        with self._changed:
            self._ended += entries
            if self._ended > _SWEEP_AT and 2 * self._ended > len(self._due):
                self._due = [entry for entry in self._due if not entry[3].ended]
                heapq.heapify(self._due)
                self._ended = 0

    def stopped(self, run: Run) -> None:
        """`run` was just asked to stop: give it its grace, then hand it over if still stuck."""
        self._add(time.monotonic() + STOP_GRACE, _GRACE, run)

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join()

    def _add(self, when: float, what: int, run: Run) -> None:
        with self._changed:
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            first = not self._due or when < self._due[0][0]
            heapq.heappush(self._due, (when, next(self._order), what, run))
            if first:
                self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._stopping and (not self._due or self._due[0][0] > time.monotonic()):
                    # Capped: Condition.wait refuses waits past threading.TIMEOUT_MAX.
                    wait = self._due[0][0] - time.monotonic() if self._due else _LONGEST_WAIT
                    self._changed.wait(min(wait, _LONGEST_WAIT))
                if self._stopping:
                    return
                _, _, what, run = heapq.heappop(self._due)
            if run.ended:
                continue
            try:
                self._act(what, run)
            except Exception:
                logger.exception("Could not handle a time limit of %s", run.job)

    def _act(self, what: int, run: Run) -> None:
        job, task = run.job, run.task
        if what == _SOFT:
            logger.warning(
                "%s is running longer than the soft time limit of task %r (%g s)",
                job, task.name, task.soft_time_limit,
            )  # fmt: skip
            signals.job_soft_time_limit.send(self._namespace, job=job)
        elif what == _HARD:
            if run.interrupt(TIME_LIMIT):
                logger.warning(
                    "Stopping %s: it ran longer than the time limit of task %r (%g s)",
                    job, task.name, task.time_limit,
                )  # fmt: skip
                self.stopped(run)
        else:
            self._on_stuck(run)
