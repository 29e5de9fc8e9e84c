"""The acker: records job outcomes in Redis in batches, one script call for many jobs.

Outcomes queue up while a call is in flight, so under load one round trip acknowledges many
jobs; when idle, each outcome is sent at once. Each outcome carries the fencing token of its
job's lease and applies only while that lease is still this worker's, so re-sending a batch
after a lost reply, or a worker back from a long pause, changes nothing twice.
"""

import logging
import queue
import threading
import time

from redis.exceptions import DataError

from spinach.brokers.base import Broker, Lease, Outcome
from spinach.exc import SchemaMismatchError
from spinach.retrying import Backoff
from spinach_worker.leases import LeaseBook
from spinach_worker.workers import Result

logger = logging.getLogger("spinach.worker")

#: Most outcomes sent in one script call.
MAX_BATCH = 1000

#: How long the acker lets outcomes gather after the first one before sending them. Under load
#: this turns one Redis call per job into one per batch; it only delays the acknowledgement,
#: never the start of a job (the lease covers the wait).
ACK_WINDOW = 0.002


class Acker:
    """Drain `source` and record each outcome; stop at the None that ends the executor's output."""

    def __init__(
        self,
        broker: Broker,
        book: LeaseBook,
        source: "queue.SimpleQueue[Result | None]",
        name: str,
    ) -> None:
        self._broker = broker
        self._book = book
        self._source = source
        self._busy = False
        self._idle = threading.Condition()
        self._give_up_after: float | None = None
        #: time.monotonic() of the last recorded batch (None before the first).
        self.last_ack: float | None = None
        self._thread = threading.Thread(target=self._run, name=name)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def give_up_retrying_after(self, seconds: float) -> None:
        """While shutting down, stop retrying an unreachable Redis after `seconds`."""
        self._give_up_after = time.monotonic() + seconds

    @property
    def idle(self) -> bool:
        """Whether every outcome handed over so far has been recorded."""
        return not self._busy and self._source.empty()

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self.idle, timeout)

    def _run(self) -> None:
        ended = False
        while not ended:
            item = self._source.get()
            self._busy = True
            if item is not None and self._give_up_after is None:
                time.sleep(ACK_WINDOW)
            batch: dict[str, list[tuple[Outcome, str]]] = {}
            count = 0
            while item is not None:
                queue_name, outcome, token = item
                if self._book.holds(Lease(outcome.id, token)):
                    batch.setdefault(queue_name, []).append((outcome, token))
                else:
                    logger.warning(
                        "Outcome %r of job %s discarded: this worker no longer holds its lease "
                        "(it expired and the job was handed on)", outcome.op, outcome.id,
                    )  # fmt: skip
                count += 1
                if count >= MAX_BATCH:
                    break
                try:
                    item = self._source.get_nowait()
                except queue.Empty:
                    break
            else:
                ended = True
            for queue_name, outcomes in batch.items():
                self._record(queue_name, outcomes)
            with self._idle:
                self._busy = False
                self._idle.notify_all()

    def _record(self, queue_name: str, outcomes: list[tuple[Outcome, str]]) -> None:
        rejected = self._send(queue_name, outcomes)
        for outcome, token in outcomes:
            self._book.pop(Lease(outcome.id, token))
        if rejected is None:
            return
        self.last_ack = time.monotonic()
        for job_id in rejected:
            logger.warning(
                "Outcome of job %s rejected: its lease was taken over while this worker was "
                "paused or cut off from Redis; the job's new owner decides its fate",
                job_id,
            )

    def _send_plainly(
        self, queue_name: str, outcomes: list[tuple[Outcome, str]]
    ) -> list[str] | None:
        """Send outcomes one by one, without their error text: none blocks the others."""
        rejected: list[str] = []
        for outcome, token in outcomes:
            plain = outcome._replace(error=outcome.error.encode("ascii", "replace").decode())
            try:
                rejected += self._broker.finish(queue_name, [(plain, token)])[1]
            except (DataError, UnicodeError):
                logger.exception("Could not record the outcome of job %s", outcome.id)
        return rejected

    def _send(self, queue_name: str, outcomes: list[tuple[Outcome, str]]) -> list[str] | None:
        """Send `outcomes` until Redis takes them; return the rejected ids, None if given up.

        Until an outcome is recorded its lease stays in the book, so the heartbeat keeps
        renewing it and no other worker takes the job over.
        """
        backoff = Backoff()
        while True:
            try:
                return self._broker.finish(queue_name, outcomes)[1]
            except SchemaMismatchError:
                logger.exception("Could not record %d job outcomes", len(outcomes))
                return None  # recovery takes the jobs over once their leases expire
            except (DataError, UnicodeError):  # never taken as is: keep it from the others
                logger.exception("Could not send %d job outcomes as they are", len(outcomes))
                return self._send_plainly(queue_name, outcomes)
            except Exception as e:  # noqa: BLE001 - lost connection, Redis full, ...: try again
                if self._give_up_after is not None and time.monotonic() > self._give_up_after:
                    logger.error(
                        "Could not record %d job outcomes while stopping (%s); their leases "
                        "will expire and recovery will take the jobs over", len(outcomes), e,
                    )  # fmt: skip
                    return None
                delay = backoff.next_delay()
                logger.warning(
                    "Could not record %d job outcomes, retrying in %.1fs: %s",
                    len(outcomes), delay, e,
                )  # fmt: skip
                time.sleep(delay)
