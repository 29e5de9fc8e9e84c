"""The housekeeper: keeps this worker in the registry and old records out of Redis.

Every interval it registers the worker (what it is, what each thread runs: `spinach status`,
the dashboard and `spinach-worker check` read it) for three intervals, and drops the finished
records and failed jobs of its queue past their retention, so an idle queue does not keep them
past their time either.
"""

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from spinach.protocol import RunningJob, WorkerInfo
from spinach.retrying import REFUSALS, TRANSIENT_ERRORS
from spinach_worker.context import WorkerContext

logger = logging.getLogger("spinach.worker")


class Housekeeper:
    """Register the worker and expire records every `interval` seconds, until stopped."""

    def __init__(
        self,
        ctx: WorkerContext,
        interval: float,
        threads: int,
        running_now: Callable[[], list[RunningJob]],
        version: str,
        name: str,
    ) -> None:
        self._ctx = ctx
        self._interval = interval
        self._threads = threads
        self._running_now = running_now
        self._version = version
        self._started_at_ms = time.time_ns() // 1_000_000
        self._host = socket.gethostname()
        self._periodic = tuple(
            task.name
            for task in ctx.tasks
            if task.queue == ctx.queue and task.periodicity is not None
        )
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        with contextlib.suppress(Exception):  # unregistered, or expiring by itself
            self._ctx.broker.register_worker(self._ctx.queue, self._ctx.worker_id, 0, None)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.register()
                self._ctx.broker.expire_records(self._ctx.queue)
            except REFUSALS as e:
                logger.error("Could not register the worker: Redis refused the credentials (%s)", e)
            except TRANSIENT_ERRORS as e:
                logger.warning("Could not register the worker (%s); trying again later", e)
            except Exception:
                logger.exception("Housekeeping failed; trying again in %.1fs", self._interval)

    def register(self) -> None:
        """Vouch for this worker in the registry for three intervals."""
        ctx = self._ctx
        running = tuple(self._running_now())
        alive_ms = int(self._interval * 3000)
        info = WorkerInfo(
            id=ctx.worker_id,
            host=self._host,
            pid=os.getpid(),
            queue=ctx.queue,
            threads=self._threads,
            version=self._version,
            started_at_ms=self._started_at_ms,
            jobs_running=len(running),
            alive_ms=alive_ms,
            # What `spinach doctor` compares across deployments: each task's retry budget.
            tasks={
                task.name: task.wire_max_retries for task in ctx.tasks if task.queue == ctx.queue
            },
            periodic=self._periodic,
            running=running,
        )
        ctx.broker.register_worker(ctx.queue, ctx.worker_id, alive_ms, info)
