"""The cancel listener: hears `Engine.cancel` of running jobs and has the executor stop them.

`Engine.cancel` of a running job marks its record and publishes the job's id on the
namespace's cancel channel; every worker of the namespace listens there on one connection, on
this thread, so a worker is told at once and nothing polls per job. A message missed while
the connection was down is not lost for good: the heartbeat's next lease renewal sees the
record's mark and stops the job the same way.
"""

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from spinach.protocol import QueueBackend
from spinach.retrying import Backoff

logger = logging.getLogger("spinach.worker")

#: How long one read of the channel waits, so that a stop is seen this quickly.
_POLL_SECONDS = 0.5


class CancelListener:
    """Call `on_cancel(job_id)` for each cancel of a running job published in the namespace."""

    def __init__(self, broker: QueueBackend, on_cancel: Callable[[str], object], name: str) -> None:
        self._broker = broker
        self._on_cancel = on_cancel
        self._stopping = threading.Event()
        self._subscribed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End the thread: an empty message on the channel ends its wait at once (the read
        is never cut from this thread: its connection is the listener's alone)."""
        self._stopping.set()
        if self._subscribed.is_set():
            with contextlib.suppress(Exception):  # Redis away: the wait ends by itself
                self._broker.wake_cancel_listeners()
        self._thread.join()

    def _run(self) -> None:
        backoff = Backoff(first=0.2, cap=5.0)
        while not self._stopping.is_set():
            pubsub: Any = None
            try:
                pubsub = self._broker.subscribe_cancels()
                pubsub.get_message(timeout=0)  # let the subscription be confirmed
                self._subscribed.set()
                if backoff.failures:
                    logger.info("Listening to cancels again")
                    backoff.reset()
                self._listen(pubsub)
            except Exception as e:  # noqa: BLE001 - whatever breaks, the listener goes on
                self._subscribed.clear()
                delay = backoff.next_delay()
                log = logger.warning if backoff.failures == 1 else logger.debug
                log(
                    "Cannot listen to cancels of running jobs (%s): trying again in %.1fs; "
                    "meanwhile lease renewals still see them",
                    e, delay,
                )  # fmt: skip
                self._stopping.wait(delay)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):  # closing a broken connection
                        pubsub.close()

    def _listen(self, pubsub: Any) -> None:
        while not self._stopping.is_set():
            message = pubsub.get_message(timeout=_POLL_SECONDS)
            if not message or message.get("type") != "message":
                continue
            data = message["data"]
            job_id = data.decode() if isinstance(data, bytes) else str(data)
            if not job_id:
                continue  # a listener's stop wakes them all: nothing to cancel
            try:
                self._on_cancel(job_id)
            except Exception:
                logger.exception("Could not stop job %s", job_id)
