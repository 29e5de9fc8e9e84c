"""What every part of one worker shares: the broker, the tasks, the queue and the leases."""

from dataclasses import dataclass

from spinach.protocol import QueueBackend
from spinach.task import Tasks
from spinach_worker.leases import LeaseBook


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """The fixed facts of one running worker."""

    broker: QueueBackend
    tasks: Tasks
    namespace: str
    queue: str
    #: Unique per worker process start; names its private wake-up list.
    worker_id: str
    lease_ms: int
    book: LeaseBook
    #: The tasks of the queue this worker knows: their concurrency limits are enforced.
    task_names: tuple[str, ...] = ()
