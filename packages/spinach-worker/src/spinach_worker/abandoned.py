"""Report a job whose worker died mid-run and that may not run again."""

import logging

from spinach import signals
from spinach.brokers.base import FetchedJob
from spinach.exc import JobAbandonedError
from spinach.inspection import describe_error
from spinach.job import JobStatus
from spinach.task import Tasks
from spinach_worker.decoding import CorruptJobError, UnknownJobTask, build_job

logger = logging.getLogger("spinach.worker")


def report_abandoned(fetched: FetchedJob, tasks: Tasks, namespace: str) -> str:
    """Log the job and send ``job_failed`` with a JobAbandonedError, instead of running it.

    Returns the error to keep with the job in the failed-job store.

    Recovery queued the job marked abandoned, and this worker fetched it under a lease like any
    job: if this worker dies before recording the failure, another one reports it.
    """
    try:
        job, _ = build_job(fetched, tasks)
    except UnknownJobTask as e:
        job = e.job
    except CorruptJobError as e:
        logger.error("Job %s was abandoned by its worker mid-run and is corrupt", fetched.id)
        return describe_error(e)
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
    return describe_error(error)
