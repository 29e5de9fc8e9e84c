"""Rate limits: how often the jobs of a task (or of one key of it) may start.

A limit such as ``"50/s"`` spaces the starts of its jobs evenly, one every period / count
(20 ms here), on Redis's clock, by GCRA (the generic cell rate algorithm): the queue keeps, per
task and rate key, the earliest time the next job may start. A job met before its time is given
the next free start time and waits in the delayed set until then, so no worker polls, no fetch
meets it twice, and the jobs behind it (of other tasks or keys) start at once.
"""

import re
from dataclasses import dataclass
from typing import Any

from spinach.option_keys import checked_option_key

#: Most characters of a rate key: it is stored with each job and in the queue's rate state.
MAX_RATE_KEY = 256

_PERIODS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|m|h|d|sec|second|min|minute|hour|day)s?\s*$")
_UNITS = {"sec": "s", "second": "s", "min": "m", "minute": "m", "hour": "h", "day": "d"}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A parsed rate limit: `count` starts per `period_ms`."""

    count: int
    period_ms: int

    @property
    def interval_ms(self) -> float:
        """Time between two starts, in ms."""
        return self.period_ms / self.count

    @property
    def wire(self) -> str:
        """The interval as the enqueue script reads it."""
        return f"{self.interval_ms:.6g}"

    @classmethod
    def parse(cls, where: str, spec: Any) -> "RateLimit | None":
        """The limit `spec` says ("100/s", "5/m", "1/10s", "30/hour"; None: no limit)."""
        if spec is None:
            return None
        if not isinstance(spec, str):
            raise TypeError(f'{where}: rate_limit must be a str such as "100/s", got {spec!r}')
        match = _SPEC.match(spec)
        if not match:
            raise ValueError(
                f'{where}: rate_limit {spec!r} is not "<count>/<period>", such as "100/s", '
                '"5/m", "1/10s" or "30/h"'
            )
        count, multiple, unit = int(match[1]), int(match[2] or 1), match[3]
        if count < 1 or multiple < 1:
            raise ValueError(f"{where}: rate_limit {spec!r} must allow at least one job")
        period_ms = multiple * _PERIODS_MS[_UNITS.get(unit, unit)]
        if period_ms / count < 1:
            raise ValueError(
                f"{where}: rate_limit {spec!r} is over 1,000 jobs per second, finer than the "
                "millisecond clock it is counted on"
            )
        return cls(count, period_ms)


def checked_rate_key(where: str, key: Any) -> str:
    """`key` if it can be a rate key, else a ValueError or TypeError saying why."""
    return checked_option_key(where, "rate_key", key, MAX_RATE_KEY, "an account or tenant id")
