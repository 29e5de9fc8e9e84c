"""Spinach workers: fetch jobs from a broker and run them on threads or an event loop."""

__version__ = "0.1.0"

from spinach_worker.asyncio_workers import AsyncioWorkers
from spinach_worker.child import ChildOptions
from spinach_worker.restarts import RestartPolicy
from spinach_worker.runtime import WorkerRuntime
from spinach_worker.supervisor import Supervisor
from spinach_worker.workers import ThreadWorkers

__all__ = [
    "AsyncioWorkers",
    "ChildOptions",
    "RestartPolicy",
    "Supervisor",
    "ThreadWorkers",
    "WorkerRuntime",
    "__version__",
]
