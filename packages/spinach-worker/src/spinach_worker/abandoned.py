"""Report jobs whose worker died mid-run and that may not run again."""

import logging

from spinach import signals
from spinach.brokers.base import FetchedJob
from spinach.exc import JobAbandonedError
from spinach.job import JobStatus
from spinach.task import Tasks
from spinach_worker.decoding import CorruptJobError, UnknownJobTask, build_job

logger = logging.getLogger("spinach.worker")


def report_abandoned(jobs: list[FetchedJob], tasks: Tasks, namespace: str, queue: str) -> None:
    """Log each job and send ``job_failed`` with a JobAbandonedError.

    Redis hands each abandoned job to exactly one caller, so each is reported once.
    """
    for fetched in jobs:
        try:
            job, _ = build_job(fetched, tasks)
        except UnknownJobTask as e:
            job = e.job
        except CorruptJobError:
            logger.error(
                "Job %s of queue %s was abandoned by its worker and is corrupt", fetched.id, queue
            )
            continue
        job.status = JobStatus.FAILED
        reason = (
            "it runs at most once (max_retries=0)"
            if job.max_retries == 0
            else f"it had no retries left ({job.retries}/{job.max_retries})"
        )
        error = JobAbandonedError(
            f"{job} was abandoned mid-run: its worker stopped renewing its lease (it died, hung "
            f"or lost Redis), and it is not run again because {reason}"
        )
        logger.error("%s", error)
        signals.job_failed.send(namespace, job=job, err=error)
