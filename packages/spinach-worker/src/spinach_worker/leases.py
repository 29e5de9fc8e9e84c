"""The leases a worker holds: which fetched jobs are its own, with which fencing token, and
until when this worker's own clock can vouch that Redis still holds them for it."""

import threading
import time
from collections.abc import Iterable

from spinach.protocol import Lease


class LeaseBook:
    """Thread-safe record of the leases of the jobs fetched by this worker and not yet recorded.

    The fetcher adds, the acker removes once an outcome is recorded, the heartbeat renews them
    all, and a stop hands them back. Every removal names the token as well as the job: if this
    worker fetched the same job again (its earlier lease expired meanwhile), only the newer run
    owns the job, and the older run's outcome must not touch it.

    Each lease also has a deadline on this host's monotonic clock: the time the request that
    fetched or last renewed it was sent, plus the lease duration, minus `margin`. Redis set its
    own deadline when it received that request, later, so before our deadline Redis cannot have
    handed the job to another worker. A worker that was paused (SIGSTOP, a long GC, a frozen VM)
    past it must not start the job, nor report anything of it: see `vouches`.
    """

    def __init__(self, lease_seconds: float = 15.0, margin: float | None = None) -> None:
        self._lock = threading.Lock()
        self._lease_seconds = lease_seconds
        self._margin = lease_seconds / 10 if margin is None else margin
        self._tokens: dict[str, str] = {}
        self._valid_until: dict[str, float] = {}
        self._retryable: set[str] = set()
        #: Leases whose outcome is on its way to Redis, which deletes them as it records it.
        self._settling: set[Lease] = set()

    def add(self, leases: Iterable[Lease], sent_at: float | None = None) -> None:
        """Record the leases of freshly fetched jobs, fetched by a request sent at `sent_at`."""
        until = self._deadline(sent_at)
        with self._lock:
            for job_id, token in leases:
                self._tokens[job_id] = token
                self._valid_until[job_id] = until

    def renewed(self, leases: Iterable[Lease], sent_at: float) -> None:
        """Note that `leases` were renewed by a request sent at `sent_at` (monotonic)."""
        until = self._deadline(sent_at)
        with self._lock:
            for job_id, token in leases:
                if self._tokens.get(job_id) == token:
                    self._valid_until[job_id] = max(self._valid_until.get(job_id, 0.0), until)

    def _deadline(self, sent_at: float | None) -> float:
        start = time.monotonic() if sent_at is None else sent_at
        return start + self._lease_seconds - self._margin

    def vouches(self, lease: Lease) -> bool:
        """Whether this worker holds `lease` and its clock says Redis surely still does too.

        False once the lease may have expired in Redis: the job may be another worker's now.
        """
        if self._tokens.get(lease.id) != lease.token:
            return False
        return time.monotonic() < self._valid_until.get(lease.id, 0.0)

    def mark_retryable(self, job_id: str) -> None:
        """Note that `job_id` may run again elsewhere if this worker cannot finish it."""
        with self._lock:
            if job_id in self._tokens:
                self._retryable.add(job_id)

    def holds(self, lease: Lease) -> bool:
        """Whether this worker still holds exactly this lease."""
        return self._tokens.get(lease.id) == lease.token

    def settling(self, leases: Iterable[Lease], *, done: bool = False) -> None:
        """Note that the outcomes of `leases` are being sent (or, `done`, no longer are).

        Redis deletes a lease as it records the outcome: a renewal that crosses the send finds
        the lease gone, and that is not a lost lease (see `is_settling`).
        """
        with self._lock:
            if done:
                self._settling.difference_update(leases)
            else:
                self._settling.update(leases)

    def is_settling(self, lease: Lease) -> bool:
        """Whether the outcome of `lease` is on its way to Redis."""
        return lease in self._settling

    def pop(self, lease: Lease) -> bool:
        """Forget `lease` if this worker still holds it; return whether it did."""
        with self._lock:
            return self._forget(lease)

    def pop_all(self, leases: Iterable[Lease]) -> None:
        """Forget every one of `leases` this worker still holds (one lock for a batch)."""
        with self._lock:
            for lease in leases:
                self._forget(lease)

    def _forget(self, lease: Lease) -> bool:
        """`pop` under the lock."""
        self._settling.discard(lease)
        if self._tokens.get(lease.id) != lease.token:
            return False
        del self._tokens[lease.id]
        self._valid_until.pop(lease.id, None)
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
