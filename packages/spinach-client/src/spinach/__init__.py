"""Spinach: a Redis task queue for Python.

This package is what a web application installs to declare tasks and schedule jobs. Running
them needs spinach-worker; `ThreadWorkers` and `AsyncioWorkers` are resolved from it lazily.
"""

from typing import Any

from spinach.brokers.memory import MemoryBroker
from spinach.brokers.redis import RedisBroker
from spinach.engine import Engine
from spinach.inspection import CancelResult, JobInfo
from spinach.job import Job, JobStatus
from spinach.results import (
    JobCancelledError,
    JobFailedError,
    NoResultError,
    ResultTimeout,
    UnstorableResultError,
)
from spinach.retention import Retention
from spinach.running import current_job
from spinach.task import AbortException, Batch, RetryException, Tasks
from spinach.time_limits import JobCancelled, JobInterrupted, TimeLimitExceeded
from spinach.workflow import Chain, Group, Step, Workflow

__version__ = "0.1.0"

__all__ = [
    "AbortException",
    "AsyncioWorkers",
    "Batch",
    "CancelResult",
    "Chain",
    "Engine",
    "Group",
    "Job",
    "JobCancelled",
    "JobCancelledError",
    "JobFailedError",
    "JobInfo",
    "JobInterrupted",
    "JobStatus",
    "MemoryBroker",
    "NoResultError",
    "RedisBroker",
    "ResultTimeout",
    "Retention",
    "RetryException",
    "Step",
    "Tasks",
    "ThreadWorkers",
    "TimeLimitExceeded",
    "UnstorableResultError",
    "Workflow",
    "__version__",
    "current_job",
]

_FROM_WORKER = {
    "ThreadWorkers": "spinach_worker.workers",
    "AsyncioWorkers": "spinach_worker.asyncio_workers",
}


def __getattr__(name: str) -> Any:
    """Resolve the worker classes from spinach-worker on first use, not at import."""
    if name in _FROM_WORKER:
        from spinach.engine import _import_worker

        return getattr(_import_worker(_FROM_WORKER[name]), name)
    raise AttributeError(f"module 'spinach' has no attribute {name!r}")
