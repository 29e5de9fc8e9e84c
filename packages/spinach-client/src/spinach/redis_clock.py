"""Redis's clock as a client estimates it, so that an enqueue need not ask Redis the time.

A job's record keeps when it was queued by Redis's clock, the one clock every host agrees on:
the age of the oldest waiting job is read against it. Asking for it (TIME) would be one more
command in every enqueue. Instead, an enqueue that reads Redis's clock anyway (the first one on
a queue, and one every FRESH_FOR seconds) reports it, and the client keeps the offset between
its own clock and Redis's. The estimate is off by at most half a round trip, plus this host's
drift over FRESH_FOR; a step of this host's clock (an NTP correction, a resumed VM) voids it
at once. Only the queued time comes from it: every due time, unique key, lease and tick is
decided by Redis's own clock, in the scripts.
"""

import threading
import time

#: Seconds an offset is used before an enqueue reads Redis's clock again.
FRESH_FOR = 60.0

#: Longest round trip whose reading of Redis's clock is kept: the offset is taken at the middle
#: of the round trip, so it is off by up to half of it (a call resent after a lost connection,
#: or one that waited behind an event loop, measures nothing).
MAX_ROUND_TRIP_MS = 1000.0

#: Largest disagreement between this host's wall clock and its monotonic clock since an offset
#: was measured before the offset is taken to be void (the wall clock was stepped).
_STEP_MS = 50.0


class RedisClock:
    """Offsets between this host's clock and Redis's, per queue (on a cluster, each queue's
    node has its own clock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: queue -> (offset ms, wall ms and monotonic s when it was measured)
        self._offsets: dict[str, tuple[float, float, float]] = {}

    def estimate_ms(self, queue: str) -> int:
        """Redis's time now (ms) by the last offset measured on `queue`; 0 when none is fresh."""
        measured = self._offsets.get(queue)
        if measured is None:
            return 0
        offset, wall_at, monotonic_at = measured
        wall, monotonic = time.time() * 1000, time.monotonic()
        elapsed = monotonic - monotonic_at
        if elapsed > FRESH_FOR or abs((wall - wall_at) - elapsed * 1000) > _STEP_MS:
            return 0
        return int(wall + offset)

    def observe(
        self, queue: str, redis_ms: int, sent_wall_ms: float, received_wall_ms: float
    ) -> None:
        """Note Redis's time `redis_ms`, read by a call sent and answered at those wall times."""
        span = received_wall_ms - sent_wall_ms
        if redis_ms <= 0 or not 0 <= span <= MAX_ROUND_TRIP_MS:
            return  # no clock read, this host's clock went back, or the call took too long
        offset = redis_ms - (sent_wall_ms + received_wall_ms) / 2
        with self._lock:
            self._offsets[queue] = (offset, received_wall_ms, time.monotonic())

    def forget(self) -> None:
        """Drop every offset (the broker now talks to another Redis)."""
        with self._lock:
            self._offsets.clear()
