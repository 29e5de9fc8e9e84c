"""The acker: records job outcomes in Redis in batches, one script call for many jobs.

Under load most outcomes do not need it: the fetcher takes them along with its next fetch
(`take`), one round trip for both. The acker sends the others: those that wait while the
fetcher sleeps on an idle queue or has no free thread to fetch for. Outcomes queue up while a
call is in flight, so one round trip acknowledges many jobs. Each outcome carries the fencing
token of its job's lease and applies only while that lease is still this worker's, so re-sending
a batch after a lost reply, or a worker back from a long pause, changes nothing twice.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from redis.exceptions import DataError

from spinach.exc import SchemaMismatchError
from spinach.protocol import Lease, Outcome, QueueBackend
from spinach.retrying import REFUSALS, Backoff
from spinach_worker.leases import LeaseBook
from spinach_worker.workers import Result, ResultQueue

logger = logging.getLogger("spinach.worker")

#: Most outcomes sent in one script call.
MAX_BATCH = 1000

#: How long the acker lets outcomes gather after the first one before sending them. Under load
#: this leaves them to the fetcher's next call, or turns one Redis call per job into one per
#: batch; it only delays the acknowledgement, never the start of a job (the lease covers it).
ACK_WINDOW = 0.002

#: Longest the acker leaves waiting outcomes to a fetcher that said it fetches again at once
#: (`carrier_busy`): under load nearly every outcome then rides on a fetch, and the acker's own
#: calls, each a script call of its own, become rare. The bound covers a fetcher held up.
CARRY_WINDOW = 0.02

#: Outcomes of one batch, with their lease tokens.
Batch = list[tuple[Outcome, str]]


class Acker:
    """Drain `source` and record each outcome; stop at the None that ends the executor's output."""

    def __init__(
        self,
        broker: QueueBackend,
        book: LeaseBook,
        source: ResultQueue,
        queue_name: str,
        name: str,
    ) -> None:
        self._broker = broker
        self._book = book
        self._source = source
        self._queue = queue_name
        self._recorded = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._ended = False
        self._give_up_after: float | None = None
        #: time.monotonic() of the last recorded batch (None before the first).
        self.last_ack: float | None = None
        #: Poked when recorded outcomes pushed workflow signals (the runtime sets it).
        self.on_signals: Callable[[], None] | None = None
        #: Set by the fetcher of this queue while it fetches again at once (it carries the
        #: waiting outcomes with its next fetch); cleared before it sleeps or waits.
        self.carrier_busy = False
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
        """Whether every outcome handed over so far has been recorded (or discarded)."""
        return self._recorded >= self._source.handed

    def _count(self, n: int) -> None:
        with self._idle:
            self._recorded += n
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self.idle, timeout)

    # -- shared with the fetcher -------------------------------------------------------------

    def take(self, most: int = MAX_BATCH) -> Batch:
        """Take up to `most` waiting outcomes to send along with a fetch (non-blocking).

        The caller must `settle` them once sent, or `give_back` them if the call failed.
        """
        with self._lock:
            if self._ended or self._source.empty():
                return []
            batch = self._collect(None, most)
        self._book.settling(_leases(batch))
        return batch

    def settle(self, batch: Batch, rejected: Sequence[str], signals: int = 0) -> None:
        """Forget the leases of a batch Redis has recorded; report the rejected outcomes;
        have the workflow signals it pushed relayed (before the batch counts as recorded, so
        that a draining worker waits for them)."""
        if signals and self.on_signals is not None:
            self.on_signals()
        self._book.pop_all(_leases(batch))
        self._count(len(batch))
        self.last_ack = time.monotonic()
        for job_id in rejected:
            logger.warning(
                "Outcome of job %s rejected: its lease was taken over while this worker was "
                "paused or cut off from Redis; the job's new owner decides its fate",
                job_id,
            )

    def give_back(self, batch: Batch) -> None:
        """Return a batch taken with `take` that could not be sent: the acker sends it."""
        self._book.settling(_leases(batch), done=True)
        for outcome, token in batch:
            self._source.put_again((self._queue, outcome, token))

    def _collect(self, first: Result | None, most: int) -> Batch:
        """The held outcomes among `first` and what waits in the source, up to `most`.

        Stops at the None that ends the executor's output, and leaves it for the acker.
        """
        batch: Batch = []
        item = first
        while True:
            if item is not None:
                _, outcome, token = item
                if self._book.holds(Lease(outcome.id, token)):
                    batch.append((outcome, token))
                else:
                    self._recorded += 1  # the caller holds the lock, which _idle wraps
                    self._idle.notify_all()
                    logger.warning(
                        "Outcome %r of job %s discarded: this worker no longer holds its lease "
                        "(it expired and the job was handed on)", outcome.op, outcome.id,
                    )  # fmt: skip
            if len(batch) >= most:
                return batch
            try:
                item = self._source.get_nowait()
            except queue.Empty:
                return batch
            if item is None:  # left for the acker's own loop, which ends on it
                self._source.put_again(None)
                self._ended = True
                return batch

    # -- the acker's own loop ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._source.get()
            with self._lock:
                if item is None:
                    self._ended = True
                    break
            if self._give_up_after is None:
                # Put back, so the fetcher can take it too; then let the fetcher take them, or
                # more gather. A busy fetcher is given longer: it fetches again at once.
                self._source.put_again(item)
                item = None
                time.sleep(ACK_WINDOW)
                deadline = time.monotonic() + CARRY_WINDOW
                while self.carrier_busy and time.monotonic() < deadline:
                    time.sleep(ACK_WINDOW)
            with self._lock:
                batch = self._collect(item, MAX_BATCH)
            if batch:
                self._record(batch)
            if self._ended:
                break
        with self._lock:  # what the fetcher took and gave back is recorded by give_back
            batch = self._collect(None, MAX_BATCH)
        if batch:
            self._record(batch)

    def _record(self, batch: Batch) -> None:
        self._book.settling(_leases(batch))
        rejected, signals = self._send(batch)
        if signals and self.on_signals is not None:
            self.on_signals()
        self._book.pop_all(_leases(batch))
        self._count(len(batch))
        if rejected is None:
            return
        self.last_ack = time.monotonic()
        for job_id in rejected:
            logger.warning(
                "Outcome of job %s rejected: its lease was taken over while this worker was "
                "paused or cut off from Redis; the job's new owner decides its fate",
                job_id,
            )

    def _send_plainly(self, batch: Batch) -> tuple[list[str] | None, int]:
        """Send outcomes one by one, without their error text: none blocks the others."""
        rejected: list[str] = []
        signals = 0
        for outcome, token in batch:
            plain = outcome._replace(
                error=outcome.error.encode("ascii", "replace").decode(),
                traceback=outcome.traceback.encode("ascii", "replace").decode(),
            )
            try:
                result = self._broker.finish(self._queue, [(plain, token)])
            except (DataError, UnicodeError):
                logger.exception("Could not record the outcome of job %s", outcome.id)
            else:
                rejected += result.rejected
                signals += result.signals
        return rejected, signals

    def _send(self, batch: Batch) -> tuple[list[str] | None, int]:
        """Send `batch` until Redis takes it; return the rejected ids (None if given up) and
        the workflow signals it pushed.

        Until an outcome is recorded its lease stays in the book, so the heartbeat keeps
        renewing it and no other worker takes the job over.
        """
        backoff = Backoff()
        while True:
            try:
                result = self._broker.finish(self._queue, batch)
                return result.rejected, result.signals
            except SchemaMismatchError:
                logger.exception("Could not record %d job outcomes", len(batch))
                return None, 0  # recovery takes the jobs over once their leases expire
            except (DataError, UnicodeError):  # never taken as is: keep it from the others
                logger.exception("Could not send %d job outcomes as they are", len(batch))
                return self._send_plainly(batch)
            except Exception as e:  # noqa: BLE001 - lost connection, Redis full, ...: try again
                if self._give_up_after is not None and time.monotonic() > self._give_up_after:
                    logger.error(
                        "Could not record %d job outcomes while stopping (%s); their leases "
                        "will expire and recovery will take the jobs over", len(batch), e,
                    )  # fmt: skip
                    return None, 0
                delay = backoff.next_delay()
                level = logging.ERROR if isinstance(e, REFUSALS) else logging.WARNING
                logger.log(
                    level,
                    "Could not record %d job outcomes, retrying in %.1fs: %s",
                    len(batch), delay, e,
                )  # fmt: skip
                time.sleep(delay)


def _leases(batch: Batch) -> list[Lease]:
    return [Lease(outcome.id, token) for outcome, token in batch]
