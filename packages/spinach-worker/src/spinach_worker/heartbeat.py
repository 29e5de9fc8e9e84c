"""The heartbeat: renews this worker's leases and takes back the leases of dead workers.

It runs on its own thread, never on a job thread, so a long or CPU-bound job keeps its lease
while its worker is healthy, and it does nothing else, so that no other duty can delay a
renewal. Record expiry and the worker registry are the housekeeper's; watching the fetch loop
is the watchdog's.
"""

import logging
import threading
import time
from collections.abc import Callable

from spinach.protocol import Lease
from spinach.retrying import REFUSALS, TRANSIENT_ERRORS
from spinach_worker import telemetry
from spinach_worker.context import WorkerContext

logger = logging.getLogger("spinach.worker")


class Heartbeat:
    """Every `interval` seconds, renew the leases in the book for the lease duration."""

    def __init__(
        self,
        ctx: WorkerContext,
        interval: float,
        name: str,
        on_cancelled: Callable[[list[str]], object] | None = None,
    ) -> None:
        self._ctx = ctx
        #: Told of the jobs held here whose cancel was asked for (the cancel message's
        #: backstop: it may have been missed while the listener reconnected).
        self._on_cancelled = on_cancelled
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        #: time.monotonic() of the last successful renewal (None before the first).
        self.last_renewal: float | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.beat()
            except REFUSALS as e:
                logger.error("Could not renew leases: Redis refused the credentials (%s)", e)
            except TRANSIENT_ERRORS as e:
                logger.warning(
                    "Could not renew leases (%s); trying again in %.1fs", e, self._interval
                )
            except Exception:
                logger.exception("Heartbeat failed; trying again in %.1fs", self._interval)

    def beat(self) -> None:
        """Renew every lease held now, forget lost ones, take back those of dead workers.

        Raises what Redis raised; the loop logs it and tries again at the next beat.
        """
        ctx = self._ctx
        held = ctx.book.snapshot()
        sent_at = time.monotonic()
        result = ctx.broker.renew(ctx.queue, held, ctx.lease_ms, ctx.task_names)
        lost = set(result.lost)
        ctx.book.renewed([lease for lease in held if lease.id not in lost], sent_at)
        self.last_renewal = time.monotonic()
        telemetry.leases_recovered(ctx.queue, result.recovered, namespace=ctx.namespace)
        if result.cancelled and self._on_cancelled is not None:
            self._on_cancelled(result.cancelled)
        if result.recovered:
            logger.info(
                "Took back %d jobs of workers that stopped renewing their leases",
                result.recovered,
            )
        tokens = dict(held)
        for job_id in result.lost:
            lease = Lease(job_id, tokens[job_id])
            if ctx.book.is_settling(lease):
                continue  # its outcome was recorded meanwhile, which deleted the lease
            if ctx.book.pop(lease):
                logger.warning(
                    "Lost the lease of job %s (this worker was paused or cut off from Redis for "
                    "longer than the lease): recovery handed it on, its outcome here is discarded",
                    job_id,
                )
