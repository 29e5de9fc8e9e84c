"""How long Redis keeps what jobs leave behind once they are finished.

Nothing a job leaves in Redis lives forever: a finished job's record (what `Engine.get_job`
reports) and a failed job in the failed-job store are both dropped by age and by count, per
queue, so memory stays bounded whatever the throughput.
"""

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class Retention:
    """Retention of finished-job records and of the failed-job store, per queue.

    `finished` set to zero writes no record of succeeded and cancelled jobs at all (the fastest
    setting; `get_job` then knows nothing of a job once it is done).
    """

    #: How long the record of a succeeded or cancelled job is kept.
    finished: timedelta = timedelta(hours=1)
    #: Most such records kept per queue: the oldest go first.
    max_finished: int = 100_000
    #: How long a job that failed for good stays in the failed store, to be retried or read.
    failed: timedelta = timedelta(days=7)
    #: Most failed jobs kept per queue: the oldest go first.
    max_failed: int = 10_000
    #: Most stored results kept per queue (each expires by its own result_ttl): beyond it,
    #: the results closest to expiry go first.
    max_results: int = 100_000

    def __post_init__(self) -> None:
        for name in ("finished", "failed"):
            value = getattr(self, name)
            if not isinstance(value, timedelta) or value < timedelta(0):
                raise ValueError(
                    f"Retention.{name} must be a timedelta of zero or more, got {value!r}"
                )
        for name in ("max_finished", "max_failed", "max_results"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Retention.{name} must be an int of zero or more, got {value!r}")

    def script_args(self) -> tuple[int, int, int, int]:
        """The four figures scripts take: finished ms, max finished, failed ms, max failed."""
        return (
            int(self.finished / timedelta(milliseconds=1)),
            self.max_finished,
            int(self.failed / timedelta(milliseconds=1)),
            self.max_failed,
        )
