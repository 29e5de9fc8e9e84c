"""The heartbeat: renews this worker's leases and takes back the leases of dead workers.

It runs on its own thread, never on a job thread, so a long or CPU-bound job keeps its lease
while its worker is healthy. It is also the watchdog of the fetcher: a fetch loop that stops
turning is reported, and the worker stops with an error so that its init system restarts it.
"""

import contextlib
import logging
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable

from spinach.brokers.base import Lease
from spinach.retrying import REFUSALS, TRANSIENT_ERRORS
from spinach_worker.context import WorkerContext

logger = logging.getLogger("spinach.worker")


class Heartbeat:
    """Every `interval` seconds, renew the leases in `book` for `lease_ms` more."""

    def __init__(
        self,
        ctx: WorkerContext,
        interval: float,
        fetcher_turn: Callable[[], float],
        fetcher_thread: Callable[[], threading.Thread | None],
        stuck_after: float,
        on_stuck: Callable[[BaseException], None],
        name: str,
    ) -> None:
        self._ctx = ctx
        self._interval = interval
        self._fetcher_turn = fetcher_turn
        self._fetcher_thread = fetcher_thread
        self._stuck_after = stuck_after
        self._on_stuck = on_stuck
        self._stopping = threading.Event()
        self._reported_stuck = False
        #: Reported in the worker registry.
        self.threads = 0
        self.started_at_ms = time.time_ns() // 1_000_000
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        #: time.monotonic() of the last successful renewal (None before the first).
        self.last_renewal: float | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
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
            self._watch_fetcher()
            if self._stopping.wait(self._interval):
                break
        with contextlib.suppress(Exception):  # unregistered, or expiring by itself
            self._ctx.broker.register_worker(self._ctx.queue, self._ctx.worker_id, 0, {})

    def beat(self) -> None:
        """Renew every lease held now, report lost ones and jobs abandoned by dead workers.

        Raises what Redis raised; the heartbeat's loop logs it and tries again.
        """
        ctx = self._ctx
        held = ctx.book.snapshot()
        sent_at = time.monotonic()
        result = ctx.broker.renew(ctx.queue, held, ctx.lease_ms, ctx.task_names)
        lost = set(result.lost)
        ctx.book.renewed([lease for lease in held if lease.id not in lost], sent_at)
        # Records expire here too, so an idle queue does not keep them past their time.
        ctx.broker.expire_records(ctx.queue)
        # Live for three heartbeats: `spinach-worker check` and inspection read this.
        ctx.broker.register_worker(
            ctx.queue, ctx.worker_id, int(self._interval * 3000), self._describe(len(held))
        )
        self.last_renewal = time.monotonic()
        tokens = dict(held)
        for job_id in result.lost:
            if ctx.book.pop(Lease(job_id, tokens[job_id])):
                logger.warning(
                    "Lost the lease of job %s (this worker was paused or cut off from Redis for "
                    "longer than the lease): recovery handed it on, its outcome here is discarded",
                    job_id,
                )

    def _describe(self, running: int) -> dict[str, object]:
        return {
            "id": self._ctx.worker_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queue": self._ctx.queue,
            "threads": self.threads,
            "started_at_ms": self.started_at_ms,
            "jobs_running": running,
            "alive_ms": int(self._interval * 3000),
            # What `spinach doctor` compares across deployments: each task's retry budget.
            "tasks": {
                task.name: task.wire_max_retries
                for task in self._ctx.tasks
                if task.queue == self._ctx.queue
            },
        }

    def _watch_fetcher(self) -> None:
        silent = time.monotonic() - self._fetcher_turn()
        thread = self._fetcher_thread()
        if silent < self._stuck_after or thread is None or not thread.is_alive():
            return
        if self._reported_stuck:
            return
        self._reported_stuck = True
        frame = sys._current_frames().get(thread.ident or -1)
        stack = "".join(traceback.format_stack(frame)) if frame else "(no stack)"
        error = RuntimeError(f"The fetch loop made no progress for {silent:.0f}s")
        logger.error("%s; it is stuck at:\n%s", error, stack)
        self._on_stuck(error)
