"""One worker process of a supervisor: the engine's workers, as ``spinach-worker`` runs them.

The process is spawned, never forked: it starts a fresh interpreter and imports the user's
code itself, so it inherits no Redis connection, no lock held by a thread of the supervisor and
no thread at all. It answers the supervisor's health questions on its pipe, and stops
gracefully by itself when the supervisor disappears (the pipe closes), so a supervisor killed
with SIGKILL leaves no orphan running jobs unsupervised.
"""

import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spinach.exc import SpinachError

if TYPE_CHECKING:  # multiprocessing costs every worker's start-up; only children use a pipe
    from multiprocessing.connection import Connection

logger = logging.getLogger("spinach.worker")

LOG_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(threadName)s %(name)s: %(message)s"


@dataclass(frozen=True)
class ChildOptions:
    """What each worker process runs: the arguments of ``Engine.start_workers``, by value."""

    engine: str
    threads: int
    #: One queue name, or several queues (names or ``name:weight``), as `start_workers` takes.
    queue: str | tuple[str, ...]
    stop_when_queue_empty: bool = False
    use_asyncio: bool = False
    shutdown_timeout: float | None = None
    lease_seconds: float | None = None
    #: Jobs fetched ahead of the threads; None: auto (see spinach_worker.workers).
    prefetch: int | None = None
    log_level: str = "INFO"
    metrics: bool = False


def child_main(options: ChildOptions, slot: int, conn: "Connection") -> None:
    """Entry point of a spawned worker process; its exit code tells the supervisor why it ended.

    0: a graceful stop; 1: the workers stopped on a fatal error; 2: the engine cannot be loaded.
    """
    # In a group of its own, a Ctrl-C at the terminal reaches only the supervisor, which then
    # sends one SIGTERM here: a second signal would abandon the running jobs.
    os.setpgrp()
    logging.basicConfig(level=options.log_level, format=LOG_FORMAT)
    # Answered from the start: while the application imports, the child is alive, not ready.
    started: list[Any] = []
    threading.Thread(
        target=_answer_health, args=(conn, started), name="spinach-health-pipe", daemon=True
    ).start()
    from spinach_worker.loading import load_engine, load_error
    from spinach_worker.runtime import WorkerRuntime, WorkerStopped

    try:
        engine = load_engine(options.engine)
    except Exception as e:  # noqa: BLE001 - any import failure is reported the same way
        logger.error("%s", load_error(options.engine, e))
        sys.exit(2)
    if options.metrics:
        from spinach_worker import telemetry

        telemetry.prometheus().enable()
    workers_class = None
    if options.use_asyncio:
        from spinach_worker.asyncio_workers import AsyncioWorkers

        workers_class = AsyncioWorkers
    extra: dict[str, Any] = {}
    if options.lease_seconds is not None:
        extra["lease_seconds"] = options.lease_seconds
    try:
        runtime = WorkerRuntime(
            engine,
            number=options.threads,
            queue=options.queue,
            stop_when_queue_empty=options.stop_when_queue_empty,
            workers_class=workers_class,
            shutdown_timeout=options.shutdown_timeout,
            prefetch=options.prefetch,
            **extra,
        )
        runtime.start()
    except (SpinachError, ValueError) as e:
        logger.error("Cannot start workers: %s", e)
        sys.exit(1)
    started.append(runtime)
    try:
        runtime.run_until_stopped()
    except WorkerStopped as e:
        logger.error("%s", e)
        sys.exit(1)
    sys.exit(0)


def _answer_health(conn: "Connection", started: list[Any]) -> None:
    """Answer ``(seq, "livez"|"readyz")`` with ``(seq, ok, details)`` until the pipe closes.

    `started` holds the runtime once it runs; before that the child is starting: alive (it is
    importing the application), not ready.
    """
    while True:
        try:
            seq, check = conn.recv()
        except (EOFError, OSError):
            if not (started and started[0].stopped):
                logger.warning("The supervisor is gone: stopping gracefully")
                os.kill(os.getpid(), signal.SIGTERM)
            return
        try:
            if not started:
                ok, details = check == "livez", {"state": "starting"}
            else:
                # The runtime's own probes, the ones its health server would serve.
                runtime = started[0]
                probe = runtime.liveness if check == "livez" else runtime.readiness
                ok, details = probe()
        except Exception as e:  # noqa: BLE001 - a failing check is a failed probe
            ok, details = False, {"error": str(e)}
        try:
            conn.send((seq, ok, details))
        except OSError:
            return
