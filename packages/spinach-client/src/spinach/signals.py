"""Signals sent during a job's life, as in Spinach 0.0.25.

The sender is the namespace, so ``signal.connect_via('myapp')`` listens to one engine only. A
receiver that raises is logged and never breaks the worker that sent the signal.
"""

import logging
from typing import Any

import blinker

logger = logging.getLogger(__name__)


class SafeNamedSignal(blinker.NamedSignal):
    """A named signal whose receivers' exceptions are logged instead of raised."""

    def send(self, sender: Any = None, /, **kwargs: Any) -> list[tuple[Any, Any]]:
        """Call every receiver of `sender`, logging the exceptions of those that fail."""
        if not self.receivers:
            return []
        results: list[tuple[Any, Any]] = []
        for receiver in self.receivers_for(sender):
            try:
                results.append((receiver, receiver(sender, **kwargs)))
            except Exception:
                logger.exception("Error in %s receiver %r", self.name, receiver)
        return results

    def __repr__(self) -> str:
        return f"SafeNamedSignal '{self.name}'"


job_started = SafeNamedSignal("job_started", doc="Sent by a worker before it runs a job.")
job_finished = SafeNamedSignal(
    "job_finished", doc="Sent by a worker after it ran a job, whatever the outcome."
)
job_schedule_retry = SafeNamedSignal(
    "job_schedule_retry", doc="Sent by a worker when a failed job is scheduled to run again."
)
job_failed = SafeNamedSignal("job_failed", doc="Sent when a job failed for good.")
job_soft_time_limit = SafeNamedSignal(
    "job_soft_time_limit",
    doc="Sent by a worker when a job runs past its task's soft time limit (it runs on).",
)
job_cancelled = SafeNamedSignal(
    "job_cancelled", doc="Sent by a worker when it stopped a job whose cancel was asked for."
)
worker_started = SafeNamedSignal("worker_started", doc="Sent by a worker thread when it starts.")
worker_terminated = SafeNamedSignal(
    "worker_terminated", doc="Sent by a worker thread just before it exits."
)
