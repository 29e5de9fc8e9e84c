"""The relay: moves workflow signals from a queue's outbox to the queues they start steps in.

When a workflow step ends, the script that records its outcome pushes what its end moves on to
its queue's outbox (see spinach_lua's workflow include); the acker or the fetcher that sent the
outcome pokes this thread, which applies the signals in their target queues and removes them.
It also looks at the outbox every CHECK_SECONDS by itself, for signals another worker left when
it died between recording an outcome and relaying it: nothing is lost, nothing applied twice.
"""

import logging
import threading
from collections.abc import Callable

from spinach.retrying import TRANSIENT_ERRORS, Backoff
from spinach_worker.context import WorkerContext

logger = logging.getLogger("spinach.worker")

#: How often the relay looks at its queue's outbox without being poked.
CHECK_SECONDS = 5.0


class Relay:
    """Relay the signals of the context's queue: when poked, and every CHECK_SECONDS."""

    def __init__(
        self, ctx: WorkerContext, name: str, on_moved: Callable[[], None] | None = None
    ) -> None:
        self._ctx = ctx
        #: Called after signals were applied (steps started or stopped), before going idle.
        self._on_moved = on_moved
        self._wanted = threading.Condition()
        self._poked = True  # a first look at start: signals a dead worker may have left
        self._running = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        """Signals are waiting (an outcome just pushed some): relay them now."""
        with self._wanted:
            self._poked = True
            self._wanted.notify()

    @property
    def idle(self) -> bool:
        """Whether no signal this worker knows of waits to be relayed."""
        return not self._poked and not self._running

    def stop(self) -> None:
        with self._wanted:
            self._stopping = True
            self._wanted.notify()
        self._thread.join(10)

    def _run(self) -> None:
        backoff = Backoff()
        while True:
            with self._wanted:
                self._wanted.wait_for(lambda: self._poked or self._stopping, CHECK_SECONDS)
                if self._stopping and not self._poked:
                    return
                self._poked, self._running = False, True
            try:
                if self._ctx.broker.relay(self._ctx.queue) and self._on_moved is not None:
                    self._on_moved()
                backoff.reset()
            except TRANSIENT_ERRORS as e:
                if self._stopping:  # left in the outbox: any worker's relay takes them later
                    return
                delay = backoff.next_delay()
                logger.warning(
                    "Could not relay workflow signals of queue %s, retrying in %.1fs: %s",
                    self._ctx.queue, delay, e,
                )  # fmt: skip
                with self._wanted:
                    self._poked = True
                    self._wanted.wait_for(lambda: self._stopping, delay)
            except Exception:
                logger.exception("Could not relay workflow signals of queue %s", self._ctx.queue)
            finally:
                with self._wanted:
                    self._running = False
                    self._wanted.notify_all()
