"""Small helpers kept public for compatibility with Spinach 0.0.25."""

import math
import random
import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def exponential_backoff(attempt: int, cap: int = 1200) -> timedelta:
    """Return a delay: exponential in `attempt`, capped at `cap` seconds, with "equal jitter".

    Attempt 1 gives 3 to 6 s, attempt 2 gives 6 to 12 s, ... up to 600 to 1200 s with the default
    cap, in whole seconds. Half of the delay is random so that jobs failing together do not
    retry together. A timedelta, as in 0.0.25: ``RetryException(at=now + exponential_backoff(n))``.
    """
    base = min(3 * 2 ** max(attempt, 0), cap) // 2
    return timedelta(seconds=base + random.randint(0, base))


def checked_duration(what: str, value: object) -> timedelta:
    """`value` as a timedelta: a timedelta, or a finite number of seconds (`what` names it in
    the error otherwise)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"{what} must be finite, got {value!r}")
        return timedelta(seconds=value)
    if not isinstance(value, timedelta):
        raise TypeError(f"{what} takes a timedelta or seconds, got {value!r}")
    return value


def utc(at: datetime) -> datetime:
    """Return `at` as an aware UTC datetime; a naive datetime is taken to be UTC already."""
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


def to_epoch_ms(at: datetime) -> int:
    """Return `at` in milliseconds since the epoch, rounded up so a job is never early."""
    micros = (utc(at) - _EPOCH) // _MICROSECOND
    return -(-micros // 1000)


def from_epoch_ms(ms: int) -> datetime:
    """Return the aware UTC datetime of `ms` milliseconds since the epoch."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def now_utc() -> datetime:
    """Return the current time of this host as an aware UTC datetime."""
    return datetime.now(UTC)


def wall_ms() -> int:
    """Return this host's wall clock in milliseconds (for records; Redis time decides due-ness)."""
    return time.time_ns() // 1_000_000
