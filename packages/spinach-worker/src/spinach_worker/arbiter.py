"""The arbiter: hands the free slots of one executor to the fetchers of several queues.

Each queue has its own fetch loop, which blocks on its own queue's wake-up list when that queue
is idle: an idle queue costs the others no round trip. The fetchers share one executor, and
before each fetch a fetcher asks here how many jobs it may take. The slots it is given stay
reserved until it says how many jobs the fetch brought, so two fetchers never take the same
free thread.

A queue *claims* slots while its fetcher wants to fetch: from the moment it asks until a fetch
finds no ready job left. A fetcher asleep on an idle queue claims nothing. Free slots go, one
by one, to the claiming queue that is served least:

- strict order: the first claiming queue, so a queue after it gets slots only while every
  queue before it has no ready work;
- by weight: the one whose jobs taken, divided by its weight, is smallest (a queue that starts
  claiming again starts level with the others, not with the credit of its idle time).

A slot that falls to a claiming queue whose fetcher is busy fetching waits a few milliseconds
for it rather than going to another queue: that keeps the shares right under load.
"""

import threading
import time
from collections.abc import Sequence
from typing import Protocol

from spinach_worker.workers import BaseWorkers


class Slots(Protocol):
    """What a fetcher asks before each fetch: how many jobs it may take."""

    def acquire(self, lane: int, timeout: float, min_free: int = 1, window: float = 0.0) -> int: ...

    def done(self, lane: int, granted: int, used: int, more: bool) -> None: ...

    def release(self) -> None: ...


class DirectSlots:
    """One queue: its fetcher takes the executor's free slots as they come."""

    def __init__(self, workers: BaseWorkers) -> None:
        self._workers = workers

    def acquire(self, lane: int, timeout: float, min_free: int = 1, window: float = 0.0) -> int:
        free = self._workers.wait_for_slot(timeout)
        if window > 0 and free < min_free:
            free = self._workers.wait_for_slot(window, min_free=min_free)
        return free

    def done(self, lane: int, granted: int, used: int, more: bool) -> None:
        return None

    def release(self) -> None:
        self._workers.release_waiters()


class SlotArbiter:
    """Share the free slots of `workers` between queues, in strict order or by `weights`."""

    def __init__(self, workers: BaseWorkers, lanes: int, weights: Sequence[int] | None) -> None:
        self._workers = workers
        self._weights = list(weights) if weights is not None else None
        self._cond = threading.Condition()
        #: Until its first fetch says otherwise, every queue may have work: a queue whose
        #: fetcher is slower to start does not lose its turn to the queues after it.
        self._claiming = [True] * lanes
        self._waiting = [False] * lanes
        self._reserved = [0] * lanes
        #: Jobs each queue took so far (by weight: its share of the service).
        self._served = [0.0] * lanes
        self._released = False
        workers.on_slot_free = self._slot_freed

    def _slot_freed(self) -> None:
        # No lock to read: the executor counted the freed slot before this read, and a fetcher
        # marks itself waiting before it counts the free slots, so one of the two sees the other.
        if any(self._waiting):
            with self._cond:
                self._cond.notify_all()

    def _shares(self) -> list[int]:
        """How many of the free slots would go to each queue now (the caller holds the lock)."""
        free = self._workers.available_slots - sum(self._reserved)
        shares = [0] * len(self._claiming)
        claiming = [i for i, c in enumerate(self._claiming) if c]
        if free <= 0 or not claiming:
            return shares
        if self._weights is None:
            shares[claiming[0]] = free
            return shares
        weights = self._weights
        load = {i: self._served[i] + self._reserved[i] for i in claiming}
        for _ in range(free):
            i = min(claiming, key=lambda i: (load[i] / weights[i], i))
            load[i] += 1
            shares[i] += 1
        return shares

    def _claim(self, lane: int) -> None:
        if self._claiming[lane]:
            return
        if self._weights is not None:
            # Level with the queues already claiming: no burst for having been idle.
            others = [
                self._served[i] / self._weights[i]
                for i, c in enumerate(self._claiming)
                if c and i != lane
            ]
            if others:
                level = min(others) * self._weights[lane]
                self._served[lane] = max(self._served[lane], level)
        self._claiming[lane] = True

    def acquire(self, lane: int, timeout: float, min_free: int = 1, window: float = 0.0) -> int:
        """Reserve slots for one fetch of `lane`: block until it gets at least one, or `timeout`.

        With a `window`, wait that much longer for `min_free` slots, to fetch more per round
        trip. Returns the number of slots reserved (0 after the timeout or once released); the
        fetcher must report them with `done`.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            self._claim(lane)
            self._waiting[lane] = True
            try:
                share = self._wait(lane, deadline, 1)
                if window > 0 and 0 < share < min_free:
                    share = self._wait(lane, time.monotonic() + window, min_free)
                if self._released:
                    return 0
                self._reserved[lane] += share
                return share
            finally:
                self._waiting[lane] = False
                self._cond.notify_all()  # the others' shares changed

    def _wait(self, lane: int, deadline: float, wanted: int) -> int:
        while True:
            share = self._shares()[lane]
            remaining = deadline - time.monotonic()
            if share >= wanted or self._released or remaining <= 0:
                return share
            self._cond.wait(remaining)

    def done(self, lane: int, granted: int, used: int, more: bool) -> None:
        """A fetch of `lane` reserved `granted` slots and took `used` jobs; `more` are ready."""
        with self._cond:
            self._reserved[lane] -= granted
            self._served[lane] += used
            self._claiming[lane] = more
            self._cond.notify_all()

    def release(self) -> None:
        """End every wait at once, now and from now on (the fetchers are stopping)."""
        with self._cond:
            self._released = True
            self._cond.notify_all()
        self._workers.release_waiters()
