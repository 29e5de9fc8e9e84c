"""The ``spinach`` admin command: see and operate the queues of a namespace.

It needs no application code: Redis holds the queues, jobs, workers and schedules. Tables for
people, ``--json`` for scripts.

Exit codes: 0 done; 1 the job asked about cannot be acted on (unknown id, a running job not
cancelled, a job not in the failed store) or a doctor check failed; 2 bad usage; 3 Redis
unreachable, refusing the credentials, or holding data of another schema.
"""

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TextIO

import redis

from spinach import const, doctor
from spinach.brokers.base import Broker
from spinach.brokers.redis import RedisBroker, _redact
from spinach.engine import Engine
from spinach.exc import BrokerConnectionError, InvalidNameError, SchemaMismatchError
from spinach.inspection import CancelResult, JobInfo, NamespaceStatus, as_json

OK, NOTHING_DONE, USAGE, UNREACHABLE = 0, 1, 2, 3

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class UsageError(Exception):
    """A command line that parses but cannot be carried out as asked."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spinach",
        description="See and operate the queues of a Spinach namespace.",
        epilog="Exit codes: 0 done, 1 nothing to act on or a failed doctor check, "
        "2 bad usage, 3 Redis unreachable or refusing.",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("SPINACH_REDIS_URL", DEFAULT_REDIS_URL),
        help="Redis to inspect, as for RedisBroker.from_url (default: $SPINACH_REDIS_URL, "
        f"else {DEFAULT_REDIS_URL})",
    )
    parser.add_argument(
        "--namespace",
        default=os.environ.get("SPINACH_NAMESPACE", const.DEFAULT_NAMESPACE),
        help="namespace of the application (default: $SPINACH_NAMESPACE, else "
        f"{const.DEFAULT_NAMESPACE})",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # --json is also taken after the command (`spinach status --json`).
    json_too = argparse.ArgumentParser(add_help=False)
    json_too.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )

    status = commands.add_parser(
        "status", parents=[json_too], help="queues, workers, periodic tasks and limits"
    )
    status.add_argument("--queue", help="only this queue")

    jobs = commands.add_parser("jobs", help="list jobs").add_subparsers(
        dest="which", required=True, metavar="KIND"
    )
    failed_list = jobs.add_parser("failed", parents=[json_too], help="failed jobs, newest first")
    failed_list.add_argument("--queue", help="only this queue")
    failed_list.add_argument("--limit", type=int, default=50, help="jobs per page (default 50)")
    failed_list.add_argument("--offset", type=int, default=0, help="newer jobs to skip")

    job = commands.add_parser("job", help="one job").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    for action, text in (
        ("show", "where the job is, its attempts, times and error"),
        ("retry", "queue a failed job again (same id, fresh attempt budget)"),
        ("cancel", "cancel a job that has not started"),
    ):
        job.add_parser(action, parents=[json_too], help=text).add_argument("job_id", metavar="ID")

    failed = commands.add_parser("failed", help="the failed-job store").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    retry_all = failed.add_parser(
        "retry-all", parents=[json_too], help="queue every failed job again"
    )
    retry_all.add_argument("--queue", help="only this queue")
    purge = failed.add_parser("purge", parents=[json_too], help="delete failed jobs for good")
    purge.add_argument("--queue", help="only this queue")
    purge.add_argument("--yes", action="store_true", help="confirm: nothing asks again")

    check = commands.add_parser(
        "doctor", parents=[json_too], help="check the deployment against the checklist"
    )
    check.add_argument("--queue", help="only this queue")
    add_dashboard_command(commands)
    return parser


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, engine: Engine | None = None
) -> int:
    """Run one command; return its exit code (``spinach`` exits with it).

    With `engine`, the command works on that engine's broker and namespace instead of the ones
    the command line names (to embed these commands in an application's own CLI).
    """
    out = out or sys.stdout
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse printed the usage error (or the help)
        return e.code if isinstance(e.code, int) else USAGE
    where = _redact(args.redis_url) if engine is None else _address(engine.broker)
    broker = None  # the one built here, closed here; an engine passed in is the caller's
    try:
        if engine is None:
            try:
                broker = RedisBroker.from_url(args.redis_url)
                engine = Engine(broker, namespace=args.namespace)
            except (ValueError, TypeError) as e:
                raise UsageError(str(e)) from None
        return _COMMANDS[args.command](engine, args, out)
    except (UsageError, InvalidNameError) as e:
        print(f"spinach: {e}", file=sys.stderr)
        return USAGE
    except (redis.exceptions.AuthenticationError, redis.exceptions.NoPermissionError) as e:
        print(f"spinach: Redis at {where} refused: {e}", file=sys.stderr)
        return UNREACHABLE
    except (BrokerConnectionError, SchemaMismatchError) as e:
        print(f"spinach: {e}", file=sys.stderr)
        return UNREACHABLE
    except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException) as e:
        print(f"spinach: cannot reach Redis at {where}: {e}", file=sys.stderr)
        return UNREACHABLE
    finally:
        if broker is not None:
            broker.close()


def _address(broker: Broker) -> str:
    """Where a broker's Redis is, as a URL without credentials."""
    try:
        kwargs = broker.client.get_connection_kwargs()
    except Exception:  # noqa: BLE001 - only for an error message
        return repr(broker)
    scheme = "rediss" if kwargs.get("ssl") or "ssl_context" in kwargs else "redis"
    if "host" not in kwargs:
        return repr(broker)
    return f"{scheme}://{kwargs['host']}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def main_exit() -> None:
    """Console entry point."""
    sys.exit(main())


# -- commands ------------------------------------------------------------------------------


def _status(engine: Engine, args: argparse.Namespace, out: TextIO) -> int:
    result = engine.status(args.queue)
    if args.json:
        print(as_json(result), file=out)
    else:
        print(_status_text(result), file=out)
    return OK


def _jobs(engine: Engine, args: argparse.Namespace, out: TextIO) -> int:
    try:
        jobs = engine.failed_jobs(args.queue, offset=args.offset, limit=args.limit)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.json:
        print(as_json(jobs), file=out)
        return OK
    if not jobs:
        print("No failed jobs.", file=out)
        return OK
    rows = [
        [job.id, job.queue, job.task, _when(job.finished_at), str(job.attempts), _error(job)]
        for job in jobs
    ]
    print(_table(["ID", "QUEUE", "TASK", "FAILED AT", "ATTEMPTS", "ERROR"], rows), file=out)
    return OK


def _job(engine: Engine, args: argparse.Namespace, out: TextIO) -> int:
    job_id: str = args.job_id
    if args.action == "show":
        info = engine.get_job(job_id)
        if info is None:
            return _say(
                out, args, {"id": job_id, "found": False}, f"No job {job_id}.", NOTHING_DONE
            )
        if args.json:
            print(as_json(info), file=out)
        else:
            print(_job_text(info, _worker_name(engine, info)), file=out)
        return OK
    if args.action == "retry":
        retried = engine.retry_failed(job_id)
        text = (
            f"Job {job_id} is queued again."
            if retried
            else f"Job {job_id} is not in the failed-job store, or its payload was lost."
        )
        return _say(
            out, args, {"id": job_id, "retried": retried}, text, OK if retried else NOTHING_DONE
        )
    result = engine.cancel(job_id)
    texts = {
        CancelResult.CANCELLED: f"Job {job_id} is cancelled: it will not run.",
        CancelResult.RUNNING: f"Job {job_id} is running: it was not cancelled.",
        CancelResult.FINISHED: f"Job {job_id} has already finished.",
        CancelResult.NOT_FOUND: f"No job {job_id}.",
    }
    code = OK if result else NOTHING_DONE
    return _say(out, args, {"id": job_id, "result": result.value}, texts[result], code)


def _failed(engine: Engine, args: argparse.Namespace, out: TextIO) -> int:
    if args.action == "retry-all":
        count = engine.retry_all_failed(args.queue)
        return _say(out, args, {"retried": count}, f"{count} failed jobs queued again.", OK)
    if not args.yes:
        raise UsageError("purge deletes failed jobs for good: add --yes to confirm")
    count = engine.purge_failed(args.queue)
    return _say(out, args, {"purged": count}, f"{count} failed jobs deleted.", OK)


def _doctor(engine: Engine, args: argparse.Namespace, out: TextIO) -> int:
    engine.broker.ping()  # an unreachable or refusing Redis is exit 3, not a list of unknowns
    checks = doctor.diagnose(engine.broker, engine.queues(args.queue))
    if args.json:
        print(as_json(checks), file=out)
        return doctor.exit_code(checks)
    for check in checks:
        print(f"{check.verdict.value.upper():8} {check.name:12} {check.detail}", file=out)
        if check.advice:
            print(f"{'':8} {'':12} -> {check.advice}", file=out)
    return doctor.exit_code(checks)


def add_dashboard_command(commands: Any) -> None:
    """`spinach dashboard`: serve the web dashboard (from the spinach-dashboard package)."""
    dashboard = commands.add_parser(
        "dashboard",
        help="serve the web dashboard (needs: pip install spinach-dashboard)",
        description="Serve the web dashboard of the namespace. Set "
        "SPINACH_DASHBOARD_PASSWORD (and optionally SPINACH_DASHBOARD_USER, default admin) to "
        "require HTTP basic authentication.",
    )
    # Also taken after the command (`spinach dashboard --redis-url URL`).
    for option in ("--redis-url", "--namespace"):
        dashboard.add_argument(option, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    dashboard.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    dashboard.add_argument("--port", type=int, default=8000, help="port to bind (8000; 0: any)")
    dashboard.add_argument("--read-only", action="store_true", help="show, never act")


def _dashboard(engine: Engine, args: argparse.Namespace, out: TextIO) -> int:
    try:
        from spinach_dashboard.server import serve
    except ModuleNotFoundError as e:
        if e.name is None or not e.name.startswith("spinach_dashboard"):
            raise
        print("spinach: the dashboard needs: pip install spinach-dashboard", file=sys.stderr)
        return USAGE
    engine.broker.ping()  # an unreachable or refusing Redis is exit 3 before serving
    serve(engine, host=args.host, port=args.port, read_only=args.read_only, out=out)
    return OK


_COMMANDS: dict[str, Callable[[Engine, argparse.Namespace, TextIO], int]] = {
    "status": _status,
    "jobs": _jobs,
    "job": _job,
    "failed": _failed,
    "doctor": _doctor,
    "dashboard": _dashboard,
}


# -- output --------------------------------------------------------------------------------


def _say(out: TextIO, args: argparse.Namespace, data: dict[str, Any], text: str, code: int) -> int:
    print(as_json(data) if args.json else text, file=out)
    return code


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%SZ")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _error(job: JobInfo) -> str:
    text = f"{job.error_type}: {job.error_message}" if job.error_message else job.error_type or ""
    return text if len(text) <= 60 else text[:57] + "..."


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in [headers, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def _status_text(status: NamespaceStatus) -> str:
    parts = [f"Namespace {status.namespace}"]
    if status.queues:
        rows = [
            [
                q.name,
                str(q.ready),
                str(q.delayed),
                str(q.running),
                str(q.failed),
                _age(q.oldest_ready_age),
            ]
            for q in status.queues
        ]
        parts.append(
            _table(["QUEUE", "READY", "DELAYED", "RUNNING", "FAILED", "OLDEST READY"], rows)
        )
    else:
        parts.append("No queue has been used in this namespace yet.")
    if status.workers:
        rows = [
            [
                w.host,
                str(w.pid),
                w.queue,
                str(w.threads),
                str(w.jobs_running),
                _when(w.started_at),
                _when(w.last_heartbeat),
                w.id,
            ]
            for w in status.workers
        ]
        parts.append(
            _table(
                ["HOST", "PID", "QUEUE", "THREADS", "RUNNING", "STARTED", "LAST HEARTBEAT", "ID"],
                rows,
            )
        )
    else:
        parts.append("No live worker.")
    if status.periodic:
        rows = [[p.queue, p.task, _when(p.next_run)] for p in status.periodic]
        parts.append(_table(["QUEUE", "PERIODIC TASK", "NEXT RUN"], rows))
    if status.limits:
        rows = [
            [lim.queue, lim.task, str(lim.limit), str(lim.running), str(lim.waiting)]
            for lim in status.limits
        ]
        parts.append(_table(["QUEUE", "LIMITED TASK", "LIMIT", "RUNNING", "WAITING"], rows))
    return "\n\n".join(parts)


def _worker_name(engine: Engine, job: JobInfo) -> str:
    """The job's worker as "id (host, pid N)" while that worker is alive, else its id."""
    if job.worker is None:
        return "-"
    for worker in engine.broker.live_workers(job.queue):
        if worker.get("id") == job.worker:
            return f"{job.worker} ({worker.get('host')}, pid {worker.get('pid')})"
    return job.worker


def _job_text(job: JobInfo, worker: str) -> str:
    fields = [
        ("id", job.id),
        ("status", job.status.name.lower()),
        ("task", job.task),
        ("queue", job.queue),
        ("attempts", str(job.attempts)),
        ("max retries", "unlimited" if job.max_retries is None else str(job.max_retries)),
        ("created", _when(job.created_at)),
        ("due", _when(job.due_at)),
        ("started", _when(job.started_at)),
        ("finished", _when(job.finished_at)),
        ("worker", worker),
    ]
    if job.error_type:
        fields.append(
            (
                "error",
                f"{job.error_type}: {job.error_message}" if job.error_message else job.error_type,
            )
        )
    if job.args is not None:
        fields.append(("args", repr(list(job.args))))
        fields.append(("kwargs", repr(job.kwargs or {})))
    width = max(len(name) for name, _ in fields)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in fields)
