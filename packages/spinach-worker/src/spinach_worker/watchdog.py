"""The watchdog: notices a fetch loop that stopped turning, and says where it is stuck.

A stuck fetch loop takes no job and records nothing, while the rest of the worker looks alive.
The watchdog reports it once, with the loop's stack, and stops the worker with an error so that
its init system restarts it. It never touches Redis, so an outage cannot make it fire.
"""

import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable

logger = logging.getLogger("spinach.worker")


class Watchdog:
    """Check every `interval` seconds that the fetch loop turned within `stuck_after`."""

    def __init__(
        self,
        last_turn: Callable[[], float],
        thread: Callable[[], threading.Thread | None],
        stuck_after: float,
        on_stuck: Callable[[BaseException], None],
        interval: float,
        name: str,
    ) -> None:
        self._last_turn = last_turn
        self._watched = thread
        self._stuck_after = stuck_after
        self._on_stuck = on_stuck
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            if self.check():
                return

    def check(self) -> bool:
        """Report the fetch loop if it is stuck; return whether it was."""
        silent = time.monotonic() - self._last_turn()
        thread = self._watched()
        if silent < self._stuck_after or thread is None or not thread.is_alive():
            return False
        frame = sys._current_frames().get(thread.ident or -1)
        stack = "".join(traceback.format_stack(frame)) if frame else "(no stack)"
        error = RuntimeError(f"The fetch loop made no progress for {silent:.0f}s")
        logger.error("%s; it is stuck at:\n%s", error, stack)
        self._on_stuck(error)
        return True
