"""Exponential backoff with jitter for reconnecting after Redis errors."""

import random


class Backoff:
    """Successive delays: 0.1 s doubling up to `cap`, each with random jitter.

    The jitter keeps a fleet of workers that lost Redis together from reconnecting in lockstep.
    """

    def __init__(self, first: float = 0.1, cap: float = 10.0) -> None:
        self._first = first
        self._cap = cap
        self._attempt = 0

    def next_delay(self) -> float:
        """Return the next delay in seconds (between half and all of the exponential step)."""
        step: float = min(self._cap, self._first * 2**self._attempt)
        self._attempt += 1
        return step / 2 + random.random() * step / 2

    def reset(self) -> None:
        self._attempt = 0

    @property
    def failures(self) -> int:
        return self._attempt
