"""Retry policies: how long a failed job waits before its next attempt."""

import random
from datetime import timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class RetryPolicy(Protocol):
    """Decide the delay before retry number `attempt` (1 for the first retry)."""

    def delay(self, attempt: int) -> timedelta: ...


class ExponentialBackoff:
    """Exponential delay with "equal jitter", the default as in Spinach 0.0.25.

    Retry n waits between half and all of ``min(base * 2**n, cap)``: with the defaults 3 to 6 s,
    then 6 to 12 s, ... up to 10 to 20 minutes. The random half spreads out jobs that failed
    together, so they do not hammer a recovering dependency at the same instant.
    """

    __slots__ = ("base", "cap")

    def __init__(
        self, base: timedelta = timedelta(seconds=3), cap: timedelta = timedelta(minutes=20)
    ) -> None:
        if base <= timedelta(0) or cap < base:
            raise ValueError("ExponentialBackoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap

    def delay(self, attempt: int) -> timedelta:
        # The exponent is bounded so that unlimited retries never overflow a timedelta.
        half: timedelta = min(self.base * 2 ** min(max(attempt, 0), 32), self.cap) / 2
        return half + half * random.random()

    def __repr__(self) -> str:
        return f"ExponentialBackoff(base={self.base!r}, cap={self.cap!r})"


DEFAULT_RETRY_POLICY = ExponentialBackoff()
