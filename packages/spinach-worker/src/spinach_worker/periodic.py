"""The periodic scheduler: the workers themselves create the jobs of periodic tasks.

No beat process: every worker vouches for the periodic tasks of its queue it knows, and at each
tick asks Redis to create their jobs. Claiming a tick is atomic, so however many workers ask,
each tick creates one job. Ticks follow Redis's clock; this host's clock only measures how long
to wait.
"""

import logging
import threading
import time

from spinach.engine import Engine
from spinach.retrying import Backoff
from spinach_worker.context import WorkerContext

logger = logging.getLogger("spinach.worker")


class PeriodicScheduler:
    """Create the jobs of the periodic tasks of the context's queue, on time, until stopped.

    Registrations are renewed every `refresh` seconds and last three times that: a task no
    live worker declares any more stops ticking within that time.
    """

    def __init__(self, ctx: WorkerContext, engine: Engine, refresh: float, name: str) -> None:
        self._ctx = ctx
        self._engine = engine
        self._refresh = refresh
        self._tasks = [
            task for task in ctx.tasks if task.periodicity is not None and task.queue == ctx.queue
        ]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def tasks(self) -> list[str]:
        return [task.name for task in self._tasks]

    def start(self) -> None:
        if self._tasks:
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        backoff = Backoff()
        renew_at = 0.0
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= renew_at:
                    self._register()
                    renew_at = time.monotonic() + self._refresh
                next_tick_ms = self._tick()
            except Exception as e:  # noqa: BLE001 - Redis away or full: never stop ticking for good
                delay = backoff.next_delay()
                logger.warning("Periodic tasks: %s; retrying in %.1fs", e, delay)
                self._stopping.wait(delay)
                continue
            backoff.reset()
            wait = renew_at - time.monotonic()
            if next_tick_ms is not None:
                # +1 ms: the wait is measured by this host's clock, the tick is Redis's.
                wait = min(wait, (next_tick_ms + 1) / 1000)
            self._stopping.wait(max(0.0, wait))

    def _register(self) -> None:
        periods = [
            (task.name, max(1, int(task.periodicity.total_seconds() * 1000)))
            for task in self._tasks
            if task.periodicity is not None
        ]
        self._ctx.broker.register_periodic(
            self._ctx.queue, periods, alive_ms=int(self._refresh * 3000)
        )

    def _tick(self) -> int | None:
        candidates = [self._engine.periodic_job(task) for task in self._tasks]
        created, next_tick_ms = self._ctx.broker.tick(self._ctx.queue, candidates)
        if created:
            logger.debug("Created %d periodic jobs on queue %s", created, self._ctx.queue)
        return next_tick_ms
