"""Spinach workers: fetch jobs from a broker and run them on threads or an event loop."""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from spinach_worker.asyncio_workers import AsyncioWorkers
from spinach_worker.child import ChildOptions
from spinach_worker.restarts import RestartPolicy
from spinach_worker.runtime import WorkerRuntime
from spinach_worker.workers import ThreadWorkers

if TYPE_CHECKING:
    from spinach_worker.supervisor import Supervisor


def __getattr__(name: str) -> Any:
    """The supervisor on first use: it imports multiprocessing, which a worker process that
    runs its own threads (most of them, and every child of a supervisor) never needs."""
    if name == "Supervisor":
        from spinach_worker.supervisor import Supervisor

        return Supervisor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "Supervisor"])


__all__ = [
    "AsyncioWorkers",
    "ChildOptions",
    "RestartPolicy",
    "Supervisor",
    "ThreadWorkers",
    "WorkerRuntime",
    "__version__",
]
