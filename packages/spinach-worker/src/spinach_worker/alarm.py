"""A one-shot timer that wakes the fetcher when the next delayed job is due.

Redis rounds the timeout of a blocking pop up to its event-loop tick (100 ms with the default
`hz 10`), which would start delayed jobs late. Instead, the fetcher learns from Redis how long
until the next due time, and this thread pushes a wake-up token on the worker's private list at
that moment, which ends the blocking pop at once.
"""

import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger("spinach.worker")


class Alarm:
    """Call `ring` once, `delay` seconds after the last `set`; `set` replaces the previous one."""

    def __init__(self, ring: Callable[[], None], name: str) -> None:
        self._ring = ring
        self._deadline: float | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def set(self, delay: float | None) -> None:
        """Ring in `delay` seconds, or never if `delay` is None."""
        with self._cond:
            self._deadline = None if delay is None else time.monotonic() + max(0.0, delay)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    if self._deadline is None:
                        self._cond.wait()
                        continue
                    remaining = self._deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._closed:
                    return
                self._deadline = None
            try:
                self._ring()
            except Exception as e:  # noqa: BLE001 - the fetcher's own safety timeout covers a lost ring
                logger.warning("Could not wake the fetcher for a due job: %s", e)
