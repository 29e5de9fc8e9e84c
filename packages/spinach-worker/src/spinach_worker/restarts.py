"""When the supervisor restarts a worker process that died, and when it gives up.

A child that dies is restarted after an exponential delay with jitter, so that a child failing
on every start costs a few restarts a minute, not a restart storm. A child that ran for a while
before dying resets its delay: it was healthy, its death is an incident, not a broken deploy.
Children that keep dying right after they start make the supervisor give up and exit non-zero,
so that a broken deploy never looks healthy to the init system or the orchestrator.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from spinach.retrying import Backoff


@dataclass(frozen=True)
class RestartPolicy:
    """How the supervisor treats dying children.

    `first_delay`/`max_delay`: the restart delay of a child that keeps dying (doubled at each
    death, with jitter). A short first delay brings a killed child back fast; the cap bounds how
    long a slot stays empty once the cause is fixed.

    `stable_after`: a child that lived this long before dying was healthy; its delay starts
    over. `give_up_after`: this many early deaths in a row (each before `stable_after`) of one
    slot's children make the supervisor stop everything and exit non-zero.
    """

    first_delay: float = 0.5
    max_delay: float = 30.0
    stable_after: float = 30.0
    give_up_after: int = 5

    def __post_init__(self) -> None:
        if self.first_delay <= 0 or self.max_delay < self.first_delay:
            raise ValueError("RestartPolicy needs 0 < first_delay <= max_delay")
        if self.stable_after <= 0 or self.give_up_after < 1:
            raise ValueError("RestartPolicy needs stable_after > 0 and give_up_after >= 1")


class Restarts:
    """The restart bookkeeping of every slot of one supervisor."""

    def __init__(
        self, policy: RestartPolicy, slots: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._backoffs = [Backoff(policy.first_delay, policy.max_delay) for _ in range(slots)]
        self._started = [0.0] * slots
        self.total = [0] * slots
        self._early = [0] * slots

    def started(self, slot: int) -> None:
        self._started[slot] = self._clock()

    def died(self, slot: int) -> float:
        """Record the death of `slot`'s child; return how long to wait before restarting it."""
        lived = self._clock() - self._started[slot]
        self.total[slot] += 1
        if lived >= self.policy.stable_after:
            self._backoffs[slot].reset()
            self._early[slot] = 0
        else:
            self._early[slot] += 1
        return self._backoffs[slot].next_delay()

    def lived(self, slot: int) -> float:
        """Seconds since the child of `slot` started."""
        return self._clock() - self._started[slot]

    @property
    def crash_looping(self) -> bool:
        """Whether a slot's children keep dying right after start (give up: a broken deploy)."""
        return max(self._early) >= self.policy.give_up_after
