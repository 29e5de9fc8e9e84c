"""The ``spinach`` admin command: see and operate the queues of a namespace.

It needs no application code: Redis holds the queues, jobs, workers and schedules. Tables for
people, ``--json`` for scripts.

The global options (``--redis-url``, ``--namespace``, ``--json``, ``--version``) are taken
before or after the command, at any level (``spinach jobs failed --namespace shop``): every
command parser is made by `add_command`, which gives it those options; a new command must be
made by it too.

Exit codes: 0 done; 1 nothing of that name or nothing to act on (an unknown namespace, queue
or job id, a running job not cancelled, a job not in the failed store) or a doctor check
failed; 2 bad usage; 3 Redis unreachable, refusing the credentials, or holding data of another
schema.
"""

import argparse
import json
import os
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

import redis

import spinach_lua
from spinach import __version__, const, doctor
from spinach.brokers.base import Broker
from spinach.brokers.redis import RedisBroker, _redact
from spinach.discovery import find_namespaces
from spinach.engine import Engine
from spinach.exc import (
    BrokerAuthError,
    BrokerConnectionError,
    InvalidNameError,
    SchemaMismatchError,
)
from spinach.inspection import CancelResult, JobInfo, NamespaceStatus, as_json
from spinach.job import JobStatus
from spinach.keys import validate_queue

OK, NOTHING_DONE, USAGE, UNREACHABLE = 0, 1, 2, 3

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

VERSION = (
    f"spinach {__version__} (spinach-lua {spinach_lua.__version__}, "
    f"schema {spinach_lua.SCHEMA_VERSION}; redis-py {redis.__version__}; "
    f"Python {platform.python_version()})"
)


class UsageError(Exception):
    """A command line that parses but cannot be carried out as asked."""


def _global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Add the options every command takes to `parser`.

    The main parser holds the defaults; command parsers add the same options without any
    (argparse.SUPPRESS), so that a value given after the command is kept, and one given before
    is not overwritten by a default.
    """

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--redis-url",
        metavar="URL",
        default=default(os.environ.get("SPINACH_REDIS_URL", DEFAULT_REDIS_URL)),
        help="Redis to inspect, as for RedisBroker.from_url (default: $SPINACH_REDIS_URL, "
        f"else {DEFAULT_REDIS_URL})",
    )
    parser.add_argument(
        "--namespace",
        metavar="NS",
        default=default(os.environ.get("SPINACH_NAMESPACE", const.DEFAULT_NAMESPACE)),
        help="namespace of the application (default: $SPINACH_NAMESPACE, else "
        f"{const.DEFAULT_NAMESPACE})",
    )
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="print JSON, not tables"
    )
    parser.add_argument("--version", action="version", version=VERSION)


#: The global options as a parent of every command parser.
_GLOBALS = argparse.ArgumentParser(add_help=False)
_global_options(_GLOBALS, defaults=False)


def add_command(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]", name: str, text: str
) -> argparse.ArgumentParser:
    """Add the command `name` (or a sub-command of one): it takes the global options too."""
    return commands.add_parser(name, parents=[_GLOBALS], help=text, description=text)


def _subcommands(
    parser: argparse.ArgumentParser, dest: str, metavar: str
) -> "argparse._SubParsersAction[argparse.ArgumentParser]":
    return parser.add_subparsers(dest=dest, required=True, metavar=metavar)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spinach",
        description="See and operate the queues of a Spinach namespace.",
        epilog="Exit codes: 0 done, 1 nothing of that name, nothing to act on or a failed "
        "doctor check, 2 bad usage, 3 Redis unreachable or refusing.",
    )
    _global_options(parser, defaults=True)
    commands = _subcommands(parser, "command", "COMMAND")

    status = add_command(commands, "status", "queues, workers, periodic tasks and limits")
    status.add_argument("--queue", help="only this queue")

    jobs = _subcommands(add_command(commands, "jobs", "list jobs"), "which", "KIND")
    failed_list = add_command(jobs, "failed", "failed jobs, newest first")
    failed_list.add_argument("--queue", help="only this queue")
    failed_list.add_argument("--limit", type=int, default=50, help="jobs per page (default 50)")
    failed_list.add_argument("--offset", type=int, default=0, help="newer jobs to skip")
    for state, text in _PAGE_KINDS.items():
        listing = add_command(jobs, state, text)
        listing.add_argument("--queue", help="only this queue (default: every queue, in turn)")
        listing.add_argument("--task", help="only jobs of this task")
        listing.add_argument("--limit", type=int, default=50, help="jobs per queue (default 50)")
        listing.add_argument("--offset", type=int, default=0, help="jobs of each queue to skip")

    job = _subcommands(add_command(commands, "job", "one job"), "action", "ACTION")
    for action, text in (
        ("show", "where the job is, its attempts, times and error"),
        ("retry", "queue a failed job again (same id, fresh attempt budget)"),
        ("cancel", "cancel a job (a running one: its worker is asked to stop it)"),
    ):
        add_command(job, action, text).add_argument("job_id", metavar="ID")

    failed = _subcommands(
        add_command(commands, "failed", "the failed-job store"), "action", "ACTION"
    )
    retry_all = add_command(failed, "retry-all", "queue every failed job again")
    retry_all.add_argument("--queue", help="only this queue")
    purge = add_command(failed, "purge", "delete failed jobs for good")
    purge.add_argument("--queue", help="only this queue")
    purge.add_argument("--yes", action="store_true", help="confirm: nothing asks again")

    queue = _subcommands(
        add_command(commands, "queue", "pause, resume or limit a queue"), "action", "ACTION"
    )
    for action, text in (
        ("pause", "workers start none of the queue's jobs until it is resumed"),
        ("resume", "let workers start the queue's jobs again"),
        ("limit", "let at most N jobs of the queue run at once, across every worker"),
    ):
        command = add_command(queue, action, text)
        command.add_argument("queue", metavar="QUEUE")
        if action == "limit":
            command.add_argument("limit", metavar="N", help="a whole number, or 'none' to lift it")

    check = add_command(commands, "doctor", "check the deployment against the checklist")
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
        if args.command == "dashboard":  # it serves a namespace still empty, and says so
            return _dashboard(engine, args, out)
        unknown = _unknown_name(engine, args.namespace, getattr(args, "queue", None), where)
        if args.command == "doctor":
            return _doctor(engine, args, out, unknown)
        if unknown is not None:
            return _say(out, args, unknown.data, unknown.text, NOTHING_DONE)
        return _COMMANDS[args.command](engine, args, out)
    except (UsageError, InvalidNameError) as e:
        print(f"spinach: {e}", file=sys.stderr)
        return USAGE
    except (
        BrokerAuthError,
        redis.exceptions.AuthenticationError,
        redis.exceptions.NoPermissionError,
    ) as e:
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


@dataclass(frozen=True, slots=True)
class _Unknown:
    """A namespace or queue asked for that does not exist, and what does."""

    #: "namespace" or "queue", the name of doctor's check.
    what: str
    text: str
    data: dict[str, Any]


def _unknown_name(engine: Engine, namespace: str, queue: str | None, where: str) -> _Unknown | None:
    """What does not exist of the namespace and queue asked for (None: both exist).

    A namespace exists once a job was sent to it or a worker ran in it: it then records its
    queues. Namespaces are listed only when the one asked for is not found (a bounded SCAN).
    """
    namespace = engine.namespace  # an engine passed in decides, whatever --namespace says
    if queue is not None:
        validate_queue(queue)
    known = engine.queues()
    if not known:
        try:
            found = find_namespaces(engine.broker.client)
        except redis.exceptions.ResponseError as e:  # SCAN refused (an ACL user): say so
            names, listed, complete = f"not listed, SCAN refused ({e})", None, False
        else:
            names = ", ".join(found.names) if found.names else "none"
            if not found.complete:
                names += " (the search stopped early: there may be more)"
            listed, complete = found.names, found.complete
        return _Unknown(
            "namespace",
            f"No namespace {namespace!r} in Redis at {where}: no job was ever sent to it and no "
            f"worker ran in it. Namespaces there: {names}.",
            {"namespace": namespace, "found": False, "namespaces": listed, "complete": complete},
        )
    if queue is not None and queue not in known:
        return _Unknown(
            "queue",
            f"No queue {queue!r} in namespace {namespace!r}. Its queues: {', '.join(known)}.",
            {"namespace": namespace, "queue": queue, "found": False, "queues": known},
        )
    return None


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


#: The kinds `spinach jobs` lists page by page besides failed jobs, in the order of a job's life.
_PAGE_KINDS = {
    "ready": "jobs waiting for a free worker, higher priority first, then oldest first",
    "delayed": "jobs due later (and retries waiting), soonest first",
    "running": "jobs a worker runs now",
    "finished": "recently finished jobs, newest first",
    "held": "jobs held back by their task's concurrency limit, task by task",
}


def _jobs(engine: Engine, args: argparse.Namespace, out: TextIO) -> int:
    if args.which != "failed":
        return _job_pages(engine, args, out)
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


def _job_pages(engine: Engine, args: argparse.Namespace, out: TextIO) -> int:
    """One page of each queue's jobs in one state (or of the queue asked for)."""
    state: str = args.which
    queues = [args.queue] if args.queue else engine.queues()
    try:
        pages = {
            queue: engine.jobs(state, queue, task=args.task, offset=args.offset, limit=args.limit)
            for queue in queues
        }
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.json:
        print(as_json(pages), file=out)
        return OK
    field, heading = {
        "ready": ("created_at", "QUEUED AT"),
        "delayed": ("due_at", "DUE AT"),
        "running": ("started_at", "STARTED AT"),
        "finished": ("finished_at", "FINISHED AT"),
        "held": ("created_at", "QUEUED AT"),
    }[state]
    rows = [
        [
            job.id, job.queue, job.task, _when(getattr(job, field)), str(job.attempts),
            job.status.name.lower() if state == "finished" else (job.worker or "-"),
        ]
        for page in pages.values()
        for job in page.jobs
    ]  # fmt: skip
    last = "STATUS" if state == "finished" else "WORKER"
    if rows:
        print(_table(["ID", "QUEUE", "TASK", heading, "ATTEMPTS", last], rows), file=out)
    else:
        print(f"No {state} jobs" + (f" of task {args.task!r}." if args.task else "."), file=out)
    for queue, page in pages.items():
        if page.next_offset is not None:
            print(
                f"Queue {queue!r} holds {page.total} {state} jobs: the next page is "
                f"--queue {queue} --offset {page.next_offset}.",
                file=out,
            )
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
            if info.workflow is not None:
                print("\n" + _workflow_text(engine, info.workflow), file=out)
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
        CancelResult.REQUESTED: f"Job {job_id} is running: its worker is asked to stop it.",
        CancelResult.RUNNING: f"Job {job_id} is running: it was not cancelled.",
        CancelResult.FINISHED: f"Job {job_id} has already finished.",
        CancelResult.NOT_FOUND: f"No job {job_id}.",
    }
    code = OK if result or result is CancelResult.REQUESTED else NOTHING_DONE
    return _say(out, args, {"id": job_id, "result": result.value}, texts[result], code)


def _failed(engine: Engine, args: argparse.Namespace, out: TextIO) -> int:
    if args.action == "retry-all":
        count = engine.retry_all_failed(args.queue)
        return _say(out, args, {"retried": count}, f"{count} failed jobs queued again.", OK)
    if not args.yes:
        raise UsageError("purge deletes failed jobs for good: add --yes to confirm")
    count = engine.purge_failed(args.queue)
    return _say(out, args, {"purged": count}, f"{count} failed jobs deleted.", OK)


#: What to do about an unknown name, in doctor's report.
_UNKNOWN_ADVICE = {
    "namespace": "Check --namespace ($SPINACH_NAMESPACE) and --redis-url: a namespace exists "
    "once a job was sent to it or a worker ran in it.",
    "queue": "Check --queue: a queue exists once a job was sent to it or a worker ran on it.",
}

#: doctor's checks of each queue: without a queue to check, they are replaced by the finding.
_PER_QUEUE_CHECKS = ("schema", "workers", "retries")


def _doctor(engine: Engine, args: argparse.Namespace, out: TextIO, unknown: _Unknown | None) -> int:
    engine.broker.ping()  # an unreachable or refusing Redis is exit 3, not a list of unknowns
    if unknown is None:
        checks = doctor.diagnose(engine.broker, engine.queues(args.queue))
    else:  # the server's checks still hold; the namespace's cannot be made
        checks = [
            check
            for check in doctor.diagnose(engine.broker, [])
            if check.name not in _PER_QUEUE_CHECKS
        ]
        checks.append(
            doctor.Check(
                unknown.what, doctor.Verdict.FAIL, unknown.text, _UNKNOWN_ADVICE[unknown.what]
            )
        )
    if args.json:
        print(as_json(checks), file=out)
        return doctor.exit_code(checks)
    for check in checks:
        print(f"{check.verdict.value.upper():8} {check.name:12} {check.detail}", file=out)
        if check.advice:
            print(f"{'':8} {'':12} -> {check.advice}", file=out)
    return doctor.exit_code(checks)


def add_dashboard_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """`spinach dashboard`: serve the web dashboard (from the spinach-dashboard package)."""
    dashboard = add_command(
        commands, "dashboard", "serve the web dashboard (needs: pip install spinach-dashboard)"
    )
    dashboard.description = (
        "Serve the web dashboard of the namespace. Set SPINACH_DASHBOARD_PASSWORD (and "
        "optionally SPINACH_DASHBOARD_USER, default admin) to require HTTP basic authentication."
    )
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


def _queue(engine: Engine, args: argparse.Namespace, out: TextIO) -> int:
    name: str = args.queue
    if args.action == "limit":
        given: str = args.limit
        if given.lower() == "none":
            limit = None
        elif given.isdigit() and int(given) >= 1:
            limit = int(given)
        else:
            raise UsageError(
                f"queue limit takes a whole number of at least 1, or 'none': {given!r}"
            )
        before = engine.set_queue_limit(limit, name)
        text = (
            f"At most {limit} jobs of queue {name} run at once now."
            if limit is not None
            else f"Queue {name} runs without a limit now."
        )
        data = {"queue": name, "max_running": limit, "before": before}
        return _say(out, args, data, text, OK)
    if args.action == "pause":
        changed = engine.pause_queue(name)
        text = (
            f"Queue {name} is paused: its workers start none of its jobs until "
            f"`spinach queue resume {name}`; running jobs finish."
            if changed
            else f"Queue {name} was already paused."
        )
        return _say(out, args, {"queue": name, "paused": True, "changed": changed}, text, OK)
    changed = engine.resume_queue(name)
    text = f"Queue {name} is running again." if changed else f"Queue {name} was not paused."
    return _say(out, args, {"queue": name, "paused": False, "changed": changed}, text, OK)


_COMMANDS: dict[str, Callable[[Engine, argparse.Namespace, TextIO], int]] = {
    "status": _status,
    "jobs": _jobs,
    "job": _job,
    "failed": _failed,
    "queue": _queue,
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
                ("paused" if q.paused else "running")
                + ("" if q.max_running is None else f", at most {q.max_running}"),
            ]
            for q in status.queues
        ]
        parts.append(
            _table(
                ["QUEUE", "READY", "DELAYED", "RUNNING", "FAILED", "OLDEST READY", "STATE"], rows
            )
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
        if worker.id == job.worker:
            return f"{job.worker} ({worker.host}, pid {worker.pid})"
    return job.worker


def _workflow_text(engine: Engine, workflow: str) -> str:
    """The steps of a job's workflow, in their order, with their states."""
    members = engine.get_workflow(workflow) or []
    rows = [
        [m.id, m.task or "-", m.status.name.lower() if m.task else "gone", m.waiting_for or ""]
        for m in members
    ]
    return f"workflow {workflow}:\n" + _table(["STEP", "TASK", "STATUS", "WAITING FOR"], rows)


def _result_text(job: JobInfo) -> str:
    """What `job show` says of a stored result: the value, or why there is none to show."""
    if job.result_state == "succeeded":
        text = json.dumps(job.result)
        return text if len(text) <= 200 else text[:197] + "..."
    if job.result_state is not None:
        return job.result_state  # failed or cancelled: the error lines say why
    if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
        return "expired"
    return "kept once it ends"


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
    if job.priority:
        fields.append(("priority", str(job.priority)))
    if job.unique_key:
        fields.append(("unique key", job.unique_key))
    if job.waiting_for:
        fields.append(("waiting for", job.waiting_for))
    if job.cancel_requested_at is not None:
        fields.append(("cancel asked", _when(job.cancel_requested_at)))
    if job.progress is not None:
        message = f" ({job.progress_message})" if job.progress_message else ""
        fields.append(("progress", f"{job.progress:.0%}{message}, {_when(job.progress_at)}"))
    if job.stores_result:
        fields.append(("result", _result_text(job)))
    if job.workflow:
        fields.append(("workflow", job.workflow))
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
    text = "\n".join(f"{name.ljust(width)}  {value}" for name, value in fields)
    if job.traceback:
        text += "\n\ntraceback of the last failed run:\n" + job.traceback.rstrip("\n")
    return text
