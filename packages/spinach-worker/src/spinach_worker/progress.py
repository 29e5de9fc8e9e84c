"""The progress board: what running tasks report of their progress, sent to Redis off their thread.

A task reports as often as it likes; the board keeps the latest report of each job and one
thread sends what changed, one script call per queue, at most every INTERVAL seconds. A chatty
task costs a dict write per report and Redis at most two updates a second per worker, and no
task ever waits for Redis to report (an asyncio task does not block its loop). When a job ends,
its executor `settle`s it before handing its outcome on: a report not sent yet is sent then, so
the last report reaches the job's record before the outcome closes it.
"""

import logging
import threading
from collections.abc import Mapping

from spinach.job import Job
from spinach.protocol import QueueBackend

logger = logging.getLogger("spinach.worker")

#: Least time between two sends of the board.
INTERVAL = 0.5


class ProgressBoard:
    """Collect progress reports of running jobs and send the latest of each, batched."""

    def __init__(self, brokers: Mapping[str, QueueBackend], name: str) -> None:
        #: The broker of each queue whose jobs may report.
        self._brokers = brokers
        #: (queue, job id) -> (lease token, progress), the reports not sent yet.
        self._pending: dict[tuple[str, str], tuple[str, str]] = {}
        #: Keys of the reports the board's thread is sending now.
        self._sending: set[tuple[str, str]] = set()
        self._changed = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def report(self, job: Job, progress: str) -> None:
        """Keep `progress` as the latest report of `job` (the task's thread: never blocks)."""
        with self._changed:
            self._pending[job.queue, job.job_id] = (job._lease_token, progress)
            self._changed.notify()

    def unsettled(self, job: Job) -> bool:
        """Whether a report of `job` is not recorded yet (no lock; nothing built while no
        job reports progress)."""
        if not self._pending and not self._sending:
            return False
        key = (job.queue, job.job_id)
        return key in self._pending or key in self._sending

    def settle(self, job: Job) -> None:
        """Before `job`'s outcome is recorded: send its report not sent yet, or wait for the
        send in flight that holds it (a dict lookup when it has none)."""
        key = (job.queue, job.job_id)
        if not self.unsettled(job):
            return
        with self._changed:
            self._changed.wait_for(lambda: key not in self._sending, 5)
            update = self._pending.pop(key, None)
        if update is not None:
            self._send({key: update})

    def stop(self) -> None:
        """Send what is pending and end the thread."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        self._thread.join(5)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._stopping)
                pending, self._pending = self._pending, {}
                self._sending = set(pending)
                stopping = self._stopping
            try:
                self._send(pending)
            finally:
                with self._changed:
                    self._sending = set()
                    self._changed.notify_all()
            if not stopping:
                with self._changed:  # rate limit: at most one send per INTERVAL
                    self._changed.wait_for(lambda: self._stopping, INTERVAL)

    def _send(self, pending: dict[tuple[str, str], tuple[str, str]]) -> None:
        by_queue: dict[str, list[tuple[str, str, str]]] = {}
        for (queue, job_id), (token, progress) in pending.items():
            by_queue.setdefault(queue, []).append((job_id, token, progress))
        for queue, updates in by_queue.items():
            try:
                self._brokers[queue].report_progress(queue, updates)
            except Exception as e:  # noqa: BLE001 - progress is advisory: the job goes on
                logger.warning(
                    "Could not record the progress of %d job(s) of queue %s: %s",
                    len(updates), queue, e,
                )  # fmt: skip
