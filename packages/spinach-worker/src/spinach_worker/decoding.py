"""Turn what a fetch returned into a runnable Job, or say why it cannot run."""

import functools
import math

import msgspec

from spinach.envelope import decode
from spinach.exc import SpinachError, UnknownTask
from spinach.job import Job, JobStatus
from spinach.protocol import FetchedJob
from spinach.task import Task, Tasks
from spinach.utils import from_epoch_ms

#: A job's due or created time as a datetime: the jobs of a batch share theirs, and datetimes
#: are immutable, so one is built per distinct millisecond, not per job.
_datetime_of = functools.lru_cache(maxsize=1024)(from_epoch_ms)


class CorruptJobError(SpinachError):
    """A stored job that cannot be decoded: it can only be failed."""


def build_job(fetched: FetchedJob, tasks: Tasks) -> tuple[Job, Task]:
    """Return the job and its task; raise CorruptJobError or UnknownTask (with the job attached)."""
    if fetched.payload is None:
        raise CorruptJobError(f"Job {fetched.id} has no stored envelope")
    try:
        envelope = decode(fetched.payload)
        job = Job.__new__(Job)
        job._id = fetched.id  # the id Redis knows it by, whatever the envelope says
        job._uuid = None
        job._lease_token = fetched.token
        job._trace_headers = envelope.headers
        job._result_ttl_ms = envelope.result_ttl
        job._reporter = None
        job._cancelled = False
        job._workflow = envelope.workflow
        job.status = JobStatus.QUEUED
        job.task_name = envelope.task
        job.queue = envelope.queue
        job.at = _datetime_of(envelope.at or envelope.created)
        job.max_retries = math.inf if envelope.max_retries is None else envelope.max_retries
        job.retries = fetched.retries
        job.task_args = (
            tuple(envelope.args)
            if envelope.prior is msgspec.UNSET
            else (envelope.prior, *envelope.args)  # the result of the step before it
        )
        job.task_kwargs = envelope.kwargs
        job.task_func = None
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise CorruptJobError(f"Job {fetched.id} has an undecodable envelope: {e}") from None
    except (ValueError, OverflowError, OSError, TypeError) as e:
        raise CorruptJobError(f"Job {fetched.id} has an envelope with bad values: {e}") from None
    try:
        task = tasks.get(envelope.task)
    except UnknownTask as e:
        raise UnknownJobTask(job, str(e)) from None
    job.task_func = task.func
    return job, task


class UnknownJobTask(UnknownTask):
    """A decoded job whose task this worker does not know."""

    def __init__(self, job: Job, message: str) -> None:
        super().__init__(message)
        self.job = job
