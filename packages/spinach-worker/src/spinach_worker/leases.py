"""The leases a worker holds: which fetched jobs are its own, and with which fencing token."""

import threading
from collections.abc import Iterable

from spinach.brokers.base import Lease


class LeaseBook:
    """Thread-safe record of the leases of the jobs fetched by this worker and not yet recorded.

    The fetcher adds, the acker removes once an outcome is recorded, the heartbeat renews them
    all, and a stop hands them back. Every removal names the token as well as the job: if this
    worker fetched the same job again (its earlier lease expired meanwhile), only the newer run
    owns the job, and the older run's outcome must not touch it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        self._retryable: set[str] = set()

    def add(self, leases: Iterable[Lease]) -> None:
        """Record the leases of freshly fetched jobs."""
        with self._lock:
            self._tokens.update(leases)

    def mark_retryable(self, job_id: str) -> None:
        """Note that `job_id` may run again elsewhere if this worker cannot finish it."""
        with self._lock:
            if job_id in self._tokens:
                self._retryable.add(job_id)

    def holds(self, lease: Lease) -> bool:
        """Whether this worker still holds exactly this lease."""
        return self._tokens.get(lease.id) == lease.token

    def pop(self, lease: Lease) -> bool:
        """Forget `lease` if this worker still holds it; return whether it did."""
        with self._lock:
            if self._tokens.get(lease.id) != lease.token:
                return False
            del self._tokens[lease.id]
            self._retryable.discard(lease.id)
            return True

    def take(self, leases: Iterable[Lease]) -> list[Lease]:
        """Forget those of `leases` this worker still holds, and return them in order."""
        return [lease for lease in leases if self.pop(lease)]

    def take_retryable(self) -> list[Lease]:
        """Forget and return the leases of every held job that may run again elsewhere."""
        with self._lock:
            held = [Lease(i, t) for i, t in self._tokens.items() if i in self._retryable]
        return self.take(held)

    def snapshot(self) -> list[Lease]:
        with self._lock:
            return [Lease(job_id, token) for job_id, token in self._tokens.items()]

    def __len__(self) -> int:
        return len(self._tokens)
