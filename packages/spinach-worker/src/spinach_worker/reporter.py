"""The reporter: fails the fetched jobs that cannot run, off the fetch thread.

Three kinds of jobs are fetched only to be reported failed: a job whose worker died mid-run
and that may not run again (abandoned), a job whose envelope cannot be decoded (corrupt), and
a job of a task this worker does not know. Reporting one sends `job_failed`, whose receivers
(Sentry, the user's own) may be slow: doing it here keeps the fetch loop turning. Each job
keeps its lease, renewed by the heartbeat, until its outcome is recorded, so a report survives
a dying reporter: another worker fetches the job again and reports it.
"""

import logging
import queue
import threading

from spinach import signals
from spinach.exc import JobAbandonedError
from spinach.inspection import describe_error
from spinach.job import Job, JobStatus
from spinach.protocol import FetchedJob, Lease, Outcome
from spinach.task import Tasks
from spinach.time_limits import JobCancelled
from spinach_worker import execution
from spinach_worker.decoding import CorruptJobError, UnknownJobTask, build_job
from spinach_worker.leases import LeaseBook
from spinach_worker.workers import ResultQueue

logger = logging.getLogger("spinach.worker")


class Reporter:
    """Turn unrunnable fetched jobs into failure outcomes for the acker, on its own thread."""

    def __init__(
        self,
        tasks: Tasks,
        namespace: str,
        queue_name: str,
        book: LeaseBook,
        out: ResultQueue,
        name: str,
    ) -> None:
        self._tasks = tasks
        self._namespace = namespace
        self._queue = queue_name
        self._book = book
        self._out = out
        self._pending: queue.SimpleQueue[FetchedJob | None] = queue.SimpleQueue()
        self._handed = 0
        self._done = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Report what was handed over, then end the thread."""
        self._pending.put(None)
        self._thread.join()

    @property
    def idle(self) -> bool:
        """Whether every job handed over was dealt with: its outcome is the acker's now."""
        return self._done >= self._handed

    def report(self, fetched: FetchedJob) -> None:
        """Queue a fetched job that cannot run to be reported failed (fetcher thread only)."""
        self._handed += 1
        self._pending.put(fetched)

    def _run(self) -> None:
        while (fetched := self._pending.get()) is not None:
            try:
                outcome = self._outcome(fetched)
            except Exception:
                logger.exception("Could not report job %s", fetched.id)
                outcome = None
            if outcome is not None:
                self._out.put((self._queue, outcome, fetched.token))
            self._done += 1  # after the put: once idle, the acker counts the outcome

    def _outcome(self, fetched: FetchedJob) -> Outcome | None:
        if not self._book.vouches(Lease(fetched.id, fetched.token)):
            # Paused since the fetch: the report may be another worker's to make by now.
            logger.warning(
                "Not reporting job %s: its lease may have expired while this worker was "
                "paused; whoever holds it now reports it", fetched.id,
            )  # fmt: skip
            return None
        if fetched.abandoned:
            return self._abandoned(fetched)
        try:
            job, _ = build_job(fetched, self._tasks)
        except UnknownJobTask as e:
            logger.error("%s", e)
            return execution.conclude(e.job, None, self._namespace, e)
        except CorruptJobError as e:
            logger.error("%s; it is kept in the failed jobs of queue %s", e, self._queue)
            return execution.failure(fetched.id, e, op="F")
        logger.error("Job %s was handed to the reporter but can run", job)
        return None

    def _abandoned(self, fetched: FetchedJob) -> Outcome:
        """Log the job and send ``job_failed`` with a JobAbandonedError, instead of running it.

        A job whose cancel was asked for while it ran ends as cancelled instead.
        """
        try:
            job, _ = build_job(fetched, self._tasks)
        except UnknownJobTask as e:
            job = e.job
        except CorruptJobError as e:
            logger.error("Job %s was abandoned by its worker mid-run and is corrupt", fetched.id)
            return Outcome("c" if fetched.cancelled else "f", fetched.id, 0, describe_error(e))
        if fetched.cancelled:
            return execution.cancelled(
                job,
                self._namespace,
                JobCancelled(
                    f"{job} was cancelled while it ran, and its worker stopped renewing "
                    "its lease (it died, hung or lost Redis): it is not run again"
                ),
            )
        job.status = JobStatus.FAILED
        error = JobAbandonedError(
            f"{job} was abandoned mid-run: its worker stopped renewing its lease (it died, hung "
            f"or lost Redis), and it is not run again because {_reason(job)}"
        )
        logger.error("%s", error)
        signals.job_failed.send(self._namespace, job=job, err=error)
        return Outcome("f", fetched.id, 0, describe_error(error))


def _reason(job: Job) -> str:
    if job.max_retries == 0:
        return "it runs at most once (max_retries=0)"
    return f"it had no retries left ({job.retries}/{job.max_retries})"
