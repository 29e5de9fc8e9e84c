"""The Flask extension on a real Flask app: scheduling from views, app contexts, the command."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import flask
import pytest
from helpers import Ledger, PrintedLines, wait_for
from redis_server import RedisServer

from spinach import Engine, MemoryBroker, RedisBroker, Tasks
from spinach.brokers.base import Broker
from spinach.contrib.flask_spinach import Spinach
from spinach.job import Job


def make_app(namespace: str, name: str = "shop") -> flask.Flask:
    app = flask.Flask(name)
    app.config["SPINACH_BROKER"] = MemoryBroker()
    app.config["SPINACH_NAMESPACE"] = namespace
    return app


def test_jobs_scheduled_from_a_view_run_each_in_an_app_context_of_their_own(
    namespace: str, ledger: Ledger
) -> None:
    app = make_app(namespace)
    spinach = Spinach(app)
    torn_down: list[str] = []

    @app.teardown_appcontext
    def teardown(exc: BaseException | None) -> None:
        torn_down.append(threading.current_thread().name)

    @spinach.task(name="greet")
    def greet(name: str) -> None:
        leftover = flask.g.get("greeted")  # set by an earlier job if contexts were shared
        flask.g.greeted = name
        ledger.add((name, flask.current_app.name, leftover, threading.current_thread().name))

    @app.post("/greet/<name>")
    def greet_view(name: str) -> str:
        return str(spinach.schedule(greet, name).id)

    client = app.test_client()
    for name in ("ada", "bob", "cyd"):
        assert client.post(f"/greet/{name}").status_code == 200
    torn_down.clear()  # the requests' own contexts

    spinach.spin.start_workers(number=2, block=True, stop_when_queue_empty=True)

    entries = ledger.wait_for_count(3)
    assert sorted(entry[0] for entry in entries) == ["ada", "bob", "cyd"]
    assert {entry[1] for entry in entries} == {"shop"}
    assert [entry[2] for entry in entries] == [None, None, None]
    # Every pushed context was popped, on the worker thread that ran the job.
    assert sorted(torn_down) == sorted(entry[3] for entry in entries)
    assert not flask.has_app_context()


def test_the_app_factory_pattern_binds_the_extension_to_each_app(
    namespace: str, ledger: Ledger
) -> None:
    spinach = Spinach()
    with pytest.raises(RuntimeError, match="init_app"):
        spinach.spin  # noqa: B018 - no app, no app context

    tasks = Tasks()

    @tasks.task(name="where")
    def where() -> None:
        ledger.add(flask.current_app.name)

    def create_app(name: str) -> flask.Flask:
        app = make_app(f"{namespace}-{name}", name)
        spinach.init_app(app)
        spinach.register_tasks(app, tasks)
        return app

    first, second = create_app("first"), create_app("second")
    assert first.extensions["spinach"] is not second.extensions["spinach"]
    assert first.extensions["spinach"].namespace == f"{namespace}-first"
    with second.app_context():
        assert spinach.spin is second.extensions["spinach"]
        spinach.schedule("where")
    second.extensions["spinach"].start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert ledger.wait_for_count(1) == ["second"]

    with pytest.raises(RuntimeError, match="init_app"):
        spinach.register_tasks(flask.Flask("bare"), tasks)


def test_the_namespace_defaults_to_the_app_name() -> None:
    app = flask.Flask("catalog")
    app.config["SPINACH_BROKER"] = MemoryBroker()
    assert Spinach(app).spin.namespace == "catalog"


def test_the_shortcuts_reach_the_engine(namespace: str, ledger: Ledger) -> None:
    from datetime import UTC, datetime, timedelta

    from spinach import Batch

    app = make_app(namespace)
    spinach = Spinach(app)

    @spinach.task(name="add")
    def add(a: int, b: int) -> int:
        ledger.add(a + b)
        return a + b

    assert spinach.execute(add, 1, 2) == 3
    spinach.schedule(add, 2, 3)
    spinach.schedule_at(add, datetime.now(UTC), 3, 4)
    spinach.schedule_in(add, timedelta(0), 4, 5)
    batch = Batch()
    batch.schedule("add", 5, 6)
    assert len(spinach.schedule_batch(batch)) == 1
    spinach.spin.start_workers(number=2, block=True, stop_when_queue_empty=True)
    assert sorted(ledger.wait_for_count(5)) == [3, 5, 7, 9, 11]


def test_the_hooks_of_a_subclass_run_in_the_app_context_even_for_failures_outside_a_job(
    namespace: str,
) -> None:
    seen: list[tuple[str, str, bool, str]] = []

    class Tracked(Spinach):
        @classmethod
        def job_started(cls, *args: Any, job: Job | None = None, **kwargs: Any) -> None:
            cls._record("started", args[0])

        @classmethod
        def job_finished(cls, *args: Any, job: Job | None = None, **kwargs: Any) -> None:
            cls._record("finished", args[0])

        @classmethod
        def job_failed(cls, *args: Any, job: Job | None = None, **kwargs: Any) -> None:
            cls._record("failed", args[0])

        @staticmethod
        def _record(hook: str, job: Job) -> None:
            seen.append((hook, job.task_name, flask.has_app_context(), flask.current_app.name))

    app = make_app(namespace)
    spinach = Tracked(app)

    @spinach.task(name="broken")
    def broken() -> None:
        raise ValueError("broken")

    # A web app that knows a task the workers do not: the job fails without running.
    producer = Engine(Broker(app.config["SPINACH_BROKER"]._r), namespace=namespace)
    producer.task(lambda: None, name="unknown_here")
    producer.schedule("unknown_here")
    spinach.schedule(broken)
    spinach.spin.start_workers(number=1, block=True, stop_when_queue_empty=True)

    assert sorted(seen) == [
        ("failed", "broken", True, "shop"),
        ("failed", "unknown_here", True, "shop"),
        ("finished", "broken", True, "shop"),
        ("started", "broken", True, "shop"),
    ]
    assert not flask.has_app_context()


@pytest.mark.parametrize("queue", [None, "mail"])
def test_the_flask_spinach_command_runs_workers_until_the_queue_is_empty(
    namespace: str, ledger: Ledger, queue: str | None
) -> None:
    app = make_app(namespace)
    spinach = Spinach(app)

    @spinach.task(name="send", queue=queue or "spinach")
    def send(n: int) -> None:
        ledger.add((n, flask.current_app.name))

    for n in range(4):
        spinach.schedule(send, n)
    args = ["spinach", "--threads", "2", "--stop-when-queue-empty"]
    if queue:
        args += ["--queue", queue]

    result = app.test_cli_runner().invoke(args=args)

    assert result.exit_code == 0, result.output
    assert sorted(ledger.wait_for_count(4)) == [(n, "shop") for n in range(4)]


def test_the_flask_spinach_command_refuses_a_bad_thread_count(namespace: str) -> None:
    app = make_app(namespace)
    Spinach(app)
    result = app.test_cli_runner().invoke(args=["spinach", "--threads", "0"])
    assert result.exit_code != 0
    assert "--threads" in result.output


def test_scheduling_from_flask_never_imports_the_worker() -> None:
    code = """
import sys
import flask
from spinach import MemoryBroker
from spinach.contrib.flask_spinach import Spinach

app = flask.Flask("web")
app.config["SPINACH_BROKER"] = MemoryBroker()
spinach = Spinach(app)

@spinach.task(name="later")
def later(n):
    pass

with app.app_context():
    spinach.schedule("later", 1)
print(sorted(m for m in sys.modules if m.split(".")[0] in ("spinach_worker", "sentry_sdk")))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


HOLDING_APP = """
import os
import pathlib
import time

import flask

from spinach import RedisBroker
from spinach.contrib.flask_spinach import Spinach

app = flask.Flask("shop")
app.config["SPINACH_BROKER"] = RedisBroker.from_url(os.environ["TEST_REDIS_URL"])
app.config["SPINACH_NAMESPACE"] = os.environ["TEST_NAMESPACE"]
spinach = Spinach(app)


@spinach.task(name="hold")
def hold(folder):
    (pathlib.Path(folder) / "started").touch()
    deadline = time.monotonic() + 30
    while not (pathlib.Path(folder) / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
"""


@pytest.mark.redis
def test_flask_spinach_says_when_it_starts_and_what_a_stop_waits_for(
    redis_server: RedisServer, namespace: str, tmp_path: Path
) -> None:
    (tmp_path / "holding_app.py").write_text(HOLDING_APP)
    sender = Engine(RedisBroker.from_url(redis_server.url), namespace=namespace)
    sender.task(lambda folder: None, name="hold")
    sender.schedule("hold", str(tmp_path))
    env = {
        **os.environ, "TEST_REDIS_URL": redis_server.url, "TEST_NAMESPACE": namespace,
        "PYTHONUNBUFFERED": "1",
    }  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "holding_app", "spinach", "--threads", "2",
         "--shutdown-timeout", "20"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines = PrintedLines(process)
    try:
        started = lines.wait_for("Running ")
        assert started == (
            f"Running 2 workers on queue 'spinach' of namespace '{namespace}'; Ctrl-C to stop"
        )
        wait_for(lambda: (tmp_path / "started").exists(), timeout=30, message="the job to start")
        process.send_signal(signal.SIGINT)
        stopping = lines.wait_for("Stopping: ")
        assert stopping == (
            "Stopping: waiting up to 20s for 1 running job to finish; Ctrl-C again to exit at once"
        )
        (tmp_path / "release").touch()
        assert process.wait(timeout=30) == 0, lines.seen
        assert lines.wait_for("Workers stopped")
    finally:
        process.kill()
        process.wait()
        lines.close()
        sender.broker.close()
    assert sender.status().queues[0].running == 0  # the job finished before the exit
