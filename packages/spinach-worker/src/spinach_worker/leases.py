"""The leases a worker holds: which fetched jobs are its own, and with which fencing token."""

import threading

from spinach.brokers.base import Lease


class LeaseBook:
    """Thread-safe record of the leases of the jobs fetched by this worker and not yet recorded.

    The fetcher adds, the acker removes when it records an outcome, the heartbeat renews them
    all, and a stop hands them back.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        self._retryable: set[str] = set()

    def add(self, leases: list[Lease]) -> None:
        """Record the leases of freshly fetched jobs."""
        with self._lock:
            self._tokens.update(leases)

    def mark_retryable(self, job_id: str) -> None:
        """Note that `job_id` may run again elsewhere if this worker cannot finish it."""
        with self._lock:
            if job_id in self._tokens:
                self._retryable.add(job_id)

    def pop(self, job_id: str) -> Lease | None:
        """Forget `job_id` and return its lease (None if this worker does not hold it)."""
        with self._lock:
            self._retryable.discard(job_id)
            token = self._tokens.pop(job_id, None)
        return None if token is None else Lease(job_id, token)

    def take(self, job_ids: list[str]) -> list[Lease]:
        """Forget the leases of `job_ids`, returned in the same order."""
        leases = [self.pop(job_id) for job_id in job_ids]
        return [lease for lease in leases if lease is not None]

    def take_retryable(self) -> list[Lease]:
        """Forget and return the leases of every held job that may run again elsewhere."""
        with self._lock:
            ids = [job_id for job_id in self._tokens if job_id in self._retryable]
        return self.take(ids)

    def snapshot(self) -> list[Lease]:
        with self._lock:
            return [Lease(job_id, token) for job_id, token in self._tokens.items()]

    def __len__(self) -> int:
        return len(self._tokens)
