"""The ``spinach-worker`` command: run the workers of an Engine defined in the user's code.

Settings live in code; the command only picks the engine, the queues, the thread and process
counts. Exit codes: 0 after a graceful stop, 1 when the workers stopped on a fatal error (or,
with ``--processes``, when worker processes keep dying right after start), 2 when the engine
cannot be loaded.
"""

import argparse
import logging
import platform
import sys
from collections.abc import Sequence
from importlib import metadata

from spinach import const
from spinach.engine import Engine
from spinach.exc import SpinachError
from spinach_worker import telemetry
from spinach_worker.child import LOG_FORMAT, ChildOptions
from spinach_worker.loading import load_engine, load_error
from spinach_worker.queues import parse_queues
from spinach_worker.runtime import WorkerStopped

logger = logging.getLogger("spinach.worker")


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spinach-worker", description="Run the jobs of a Spinach engine on threads."
    )
    parser.add_argument("--version", action="version", version=version_line())
    parser.add_argument("engine", help="the Engine to run, as module:attribute (shop.tasks:spin)")
    parser.add_argument(
        "--threads",
        type=int,
        default=const.DEFAULT_WORKER_NUMBER,
        help=f"jobs run at once (default {const.DEFAULT_WORKER_NUMBER})",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="run N worker processes of --threads threads each under a supervisor that restarts "
        "the ones that die (default 1: no supervisor); for CPU-bound tasks, N = cores",
    )
    parser.add_argument(
        "--queue",
        action="append",
        metavar="QUEUE[:WEIGHT]",
        help=f"queue to consume (default {const.DEFAULT_QUEUE}); give it several times to "
        "consume several queues with the same threads: in the order given (a queue gets "
        "threads only while those before it have no ready job), or, with a weight on each "
        "(--queue high:5 --queue default:1), shared in proportion when several have jobs",
    )
    parser.add_argument(
        "--stop-when-queue-empty",
        action="store_true",
        help="exit once no job is ready, delayed or running on the queue (on every queue)",
    )
    parser.add_argument(
        "--asyncio", action="store_true", help="run async def tasks on an event loop"
    )
    parser.add_argument(
        "--prefetch",
        type=_non_negative_int,
        default=None,
        metavar="JOBS",
        help="jobs fetched ahead of the threads, so that a free thread never waits for a fetch "
        "(default: as many as the threads finish in about 5 ms, up to 6 per thread and 256 in "
        "all; 0: none; "
        "if the process is killed, prefetched at-most-once jobs are reported failed without "
        "having run)",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=const.DEFAULT_SHUTDOWN_TIMEOUT,
        metavar="SECONDS",
        help="on SIGTERM, how long running jobs may take to finish "
        f"(default {const.DEFAULT_SHUTDOWN_TIMEOUT:g}); keep it under the grace period of the "
        "init system",
    )
    parser.add_argument(
        "--health-port",
        type=int,
        metavar="PORT",
        help="serve HTTP /livez and /readyz on this port for probes",
    )
    parser.add_argument(
        "--health-host",
        default="0.0.0.0",
        metavar="ADDRESS",
        help="address the health endpoints listen on (default: all interfaces)",
    )
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="also serve Prometheus metrics as /metrics on --health-port "
        "(needs pip install 'spinach-worker[prometheus]')",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="level of the spinach logs printed on stderr (default INFO)",
    )
    return parser


def version_line() -> str:
    """``spinach-worker 0.1.0 (spinach-client 0.1.0, Python 3.11.2)``: what a bug report needs."""
    versions = {}
    for dist in ("spinach-worker", "spinach-client"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
            versions[dist] = "unknown"
    return (
        f"spinach-worker {versions['spinach-worker']} (spinach-client "
        f"{versions['spinach-client']}, Python {platform.python_version()})"
    )


def warn_unused_queue(engine: Engine, queue: str) -> None:
    """Warn when no attached task uses `queue`: its workers would have nothing they can run."""
    used = sorted({task.queue for task in engine.tasks})
    if queue not in used:
        logger.warning(
            "No task attached to the engine uses queue %r (its tasks use: %s): jobs found there "
            "would fail as unknown tasks. Check --queue, or attach the tasks of that queue",
            queue, ", ".join(used) or "none, no task is attached",
        )  # fmt: skip


def queue_option(given: Sequence[str] | None) -> str | tuple[str, ...]:
    """What ``--queue`` names, for `start_workers`: one name as it is, or several queues.

    One ``--queue`` is a queue name, taken as it is (as before several were allowed: a
    ``mail:2`` queue keeps its name); several are each ``name`` or ``name:weight``.
    """
    if not given:
        return const.DEFAULT_QUEUE
    return given[0] if len(given) == 1 else tuple(given)


def check(argv: Sequence[str]) -> int:
    """``spinach-worker check APP [--queue Q]``: exit 0 if a live worker heartbeats, else 1.

    Meant for an exec probe (Kubernetes) or a monitoring check; it reads the worker registry
    that every worker's heartbeat renews.
    """
    parser = argparse.ArgumentParser(
        prog="spinach-worker check",
        description="Exit 0 if a live worker of the engine heartbeats in Redis, 1 otherwise.",
    )
    parser.add_argument("engine", help="the Engine, as module:attribute (shop.tasks:spin)")
    parser.add_argument(
        "--queue", action="append", help="queue to check (default: every queue of its tasks)"
    )
    args = parser.parse_args(argv)
    try:
        engine = load_engine(args.engine)
    except Exception as e:  # noqa: BLE001 - any import failure is reported the same way
        print(load_error(args.engine, e), file=sys.stderr)
        return 2
    if args.queue:  # the worker's own --queue options, weights and all, are welcome
        try:
            queues = list(parse_queues(queue_option(args.queue)).queues)
        except ValueError as e:
            print(f"--queue: {e}", file=sys.stderr)
            return 2
    else:
        queues = sorted({task.queue for task in engine.tasks}) or [const.DEFAULT_QUEUE]
    try:
        live = {queue: engine.broker.live_workers(queue) for queue in queues}
    except Exception as e:  # noqa: BLE001 - Redis unreachable: not healthy, say why
        print(f"Cannot read the worker registry: {e}", file=sys.stderr)
        return 1
    for queue, workers in live.items():
        print(f"{queue}: {len(workers)} live worker(s)")
    return 0 if any(live.values()) else 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["check"]:
        return check(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format=LOG_FORMAT)
    if args.threads <= 0 or args.processes <= 0:
        logger.error("--threads and --processes must be at least 1")
        return 2
    if args.metrics and args.health_port is None:
        logger.error("--metrics serves /metrics on the health port: add --health-port PORT")
        return 2
    args.queue = queue_option(args.queue)
    try:
        plan = parse_queues(args.queue)
    except ValueError as e:
        logger.error("--queue: %s", e)
        return 2
    try:
        engine = load_engine(args.engine)
    except Exception as e:  # noqa: BLE001 - any import failure is reported the same way
        logger.error("%s", load_error(args.engine, e))
        return 2
    for queue in plan.queues:
        warn_unused_queue(engine, queue)
    try:
        if args.metrics:
            telemetry.prometheus().enable(multiprocess=args.processes > 1)
            if args.processes > 1:  # the children's runtimes observe it in the other case
                for queue in plan.queues:
                    telemetry.observe_queue(engine.broker, queue)
        if args.processes > 1:
            return supervise(args)
    except SpinachError as e:
        logger.error("%s", e)
        return 2
    workers_class = None
    if args.asyncio:
        from spinach_worker.asyncio_workers import AsyncioWorkers

        workers_class = AsyncioWorkers
    try:
        engine.start_workers(
            number=args.threads,
            queue=args.queue,
            block=True,
            stop_when_queue_empty=args.stop_when_queue_empty,
            workers_class=workers_class,
            shutdown_timeout=args.shutdown_timeout,
            health_port=args.health_port,
            health_host=args.health_host,
            prefetch=args.prefetch,
        )
    except WorkerStopped as e:
        logger.error("%s", e)
        return 1
    except SpinachError as e:
        logger.error("Cannot start workers: %s", e)
        return 1
    return 0


def supervise(args: argparse.Namespace) -> int:
    """Run ``--processes`` worker processes under a supervisor; return its exit code."""
    from spinach_worker.supervisor import Supervisor

    options = ChildOptions(
        engine=args.engine,
        threads=args.threads,
        queue=args.queue,
        stop_when_queue_empty=args.stop_when_queue_empty,
        use_asyncio=args.asyncio,
        shutdown_timeout=args.shutdown_timeout,
        prefetch=args.prefetch,
        log_level=args.log_level,
        metrics=args.metrics,
    )
    page = telemetry.prometheus().page if args.metrics else None
    supervisor = Supervisor(
        options,
        args.processes,
        health_port=args.health_port,
        health_host=args.health_host,
        metrics_page=page,
    )
    return supervisor.run()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
