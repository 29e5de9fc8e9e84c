"""The `spinach` admin command, on states that real workers produced.

In process on the embedded broker, a real Redis and a Redis Cluster (`engine=`), and by URL on
a real redis-server: from --redis-url, from $SPINACH_REDIS_URL and through the installed
console script, whose exit codes are the contract scripts rely on.
"""

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import Ledger, wait_for
from redis_server import RedisServer, free_port

import spinach
import spinach_lua
from spinach import Chain, Engine, RedisBroker, Step, Tasks, current_job
from spinach.brokers.base import Broker
from spinach.cli import build_parser, main
from spinach.job import JobStatus
from spinach.keys import queue_keys
from spinach.retry import ExponentialBackoff

DEFAULT = "spinach"
OTHER = "other"
FAST = ExponentialBackoff(base=timedelta(milliseconds=20), cap=timedelta(milliseconds=80))


class App:
    """The tasks of the tests and the switches that steer them."""

    def __init__(self) -> None:
        self.ledger = Ledger()
        #: While set, the `fragile` tasks fail.
        self.broken = threading.Event()
        #: `hold` jobs run until this is set.
        self.release = threading.Event()
        self.tasks = Tasks()
        task = self.tasks.task

        @task(name="ok")
        def ok(n: int) -> None:
            self.ledger.add(("ok", n))

        @task(name="answer", store_result=True)
        def answer(n: int) -> dict[str, int]:
            current_job().report_progress(0.5, "halfway")
            return {"answer": n}

        @task(name="doomed")
        def doomed(n: int, **kwargs: Any) -> None:
            self.ledger.add(("doomed", n))
            raise ValueError(f"doomed {n}")

        @task(name="flaky", max_retries=2, retry_policy=FAST)
        def flaky(n: int) -> None:
            self.ledger.add(("flaky", n))
            raise ConnectionError("the flaky service is away")

        @task(name="fragile")
        def fragile(n: int) -> None:
            self.ledger.add(("fragile", n))
            if self.broken.is_set():
                raise RuntimeError("broken")

        @task(name="fragile_other", queue=OTHER)
        def fragile_other(n: int) -> None:
            self.ledger.add(("fragile_other", n))
            if self.broken.is_set():
                raise RuntimeError("broken")

        @task(name="hold", max_retries=1, max_concurrency=1)  # 0.0.25: a limit needs retries
        def hold(n: int) -> None:
            self.ledger.add(("hold started", n))
            self.release.wait()
            self.ledger.add(("hold", n))

        @task(name="tick", periodicity=timedelta(hours=1))
        def tick() -> None:
            self.ledger.add(("tick",))

    def ran(self, name: str) -> list[Any]:
        return [entry[1:] for entry in self.ledger.entries if entry[0] == name]


@pytest.fixture
def app(spin: Engine) -> Iterator[App]:
    """The tasks, attached to `spin`; held jobs are let go before the workers are stopped."""
    made = App()
    spin.attach_tasks(made.tasks)
    yield made
    made.release.set()


def cli(spin: Engine, *argv: str) -> tuple[int, str]:
    """Run `spinach ARGV` on the engine's broker and namespace: (exit code, standard output)."""
    out = io.StringIO()
    code = main(list(argv), out=out, engine=spin)
    return code, out.getvalue()


def cli_json(spin: Engine, *argv: str) -> tuple[int, Any]:
    """Run `spinach --json ARGV`: (exit code, the parsed output)."""
    code, text = cli(spin, "--json", *argv)
    return code, json.loads(text)


def drain(spin: Engine, queue: str = DEFAULT) -> None:
    """Run the jobs of `queue` (retries included) until nothing is left to run."""
    spin.start_workers(number=2, queue=queue, block=True, stop_when_queue_empty=True)


def status_of(spin: Engine, job_id: str) -> JobStatus | None:
    info = spin.get_job(job_id)
    return None if info is None else info.status


def redis_now(spin: Engine) -> datetime:
    seconds, micros = spin.broker.client.time()
    return datetime.fromtimestamp(int(seconds) + int(micros) / 1e6, tz=UTC)


def fail_now(spin: Engine, task: str, n: int) -> str:
    """Make one job fail for good, alone, later than any job failed before; return its id."""
    queue = spin.tasks.get(task).queue
    job_id = spin.schedule(task, n).job_id
    drain(spin, queue)
    info = spin.get_job(job_id)
    assert info is not None and info.status is JobStatus.FAILED, info
    finished = info.finished_at
    assert finished is not None
    # Failure times have a millisecond resolution: the next one must not share this one's.
    wait_for(lambda: redis_now(spin) > finished + timedelta(milliseconds=1), message="1 ms")
    return job_id


def table(text: str) -> list[list[str]]:
    """The rows of a table the command printed, split on runs of two spaces or more."""
    return [
        [cell.strip() for cell in line.split("  ") if cell.strip()] for line in text.splitlines()
    ]


def section(text: str, *header: str) -> list[list[str]]:
    """The table of `text` (tables are separated by blank lines) whose header starts so."""
    for block in text.split("\n\n"):
        rows = table(block)
        if rows[0][: len(header)] == list(header):
            return rows
    raise AssertionError(f"No table {header!r} in:\n{text}")


# -- status ------------------------------------------------------------------------------------


def test_queue_pause_and_resume_stop_and_restart_a_queue_and_status_shows_it(
    spin: Engine, app: App
) -> None:
    code, text = cli(spin, "queue", "pause", DEFAULT)
    assert (code, text.split(":")[0]) == (0, f"Queue {DEFAULT} is paused")
    assert cli_json(spin, "queue", "pause", DEFAULT) == (
        0, {"queue": DEFAULT, "paused": True, "changed": False},
    )  # fmt: skip
    spin.schedule("ok", 1)
    rows = section(cli(spin, "status")[1], "QUEUE", "READY")
    assert [row[0] for row in rows[1:] if row[-1] == "paused"] == [DEFAULT]
    spin.start_workers(number=1, block=False)
    spin.schedule_in("ok", timedelta(milliseconds=50), 2)  # promoted by a fetch, not run
    wait_for(lambda: spin.broker.queue_stats(DEFAULT).delayed == 0, message="a fetch")
    assert app.ran("ok") == []
    assert cli(spin, "queue", "resume", DEFAULT) == (0, f"Queue {DEFAULT} is running again.\n")
    app.ledger.wait_for_count(2)
    spin.stop_workers()
    assert sorted(app.ran("ok")) == [(1,), (2,)]
    assert cli(spin, "queue", "resume", DEFAULT) == (0, f"Queue {DEFAULT} was not paused.\n")
    code, _ = cli(spin, "queue", "pause", "nope")
    assert code == 1  # an unknown queue is refused, not paused in advance by a typo


def test_queue_limit_sets_and_lifts_a_queue_wide_limit_that_status_shows(
    spin: Engine, app: App
) -> None:
    spin.schedule("ok", 1)
    assert cli(spin, "queue", "limit", DEFAULT, "3") == (
        0, f"At most 3 jobs of queue {DEFAULT} run at once now.\n",
    )  # fmt: skip
    rows = section(cli(spin, "status")[1], "QUEUE", "READY")
    assert [row[-1] for row in rows[1:] if row[0] == DEFAULT] == ["running, at most 3"]
    queues = {q["name"]: q for q in cli_json(spin, "status")[1]["queues"]}
    assert queues[DEFAULT]["max_running"] == 3
    assert cli_json(spin, "queue", "limit", DEFAULT, "none") == (
        0, {"queue": DEFAULT, "max_running": None, "before": 3},
    )  # fmt: skip
    assert spin.status(DEFAULT).queues[0].max_running is None
    assert cli(spin, "queue", "limit", DEFAULT, "0")[0] == 2  # bad usage: says what it takes


def test_status_counts_ready_delayed_and_failed_jobs_of_each_queue(spin: Engine, app: App) -> None:
    app.broken.set()
    fail_now(spin, "fragile", 1)
    fail_now(spin, "fragile", 2)
    fail_now(spin, "fragile_other", 3)
    for n in range(3):
        spin.schedule("ok", n)
    spin.schedule_in("ok", timedelta(hours=1), 99)
    spin.schedule("fragile_other", 4)

    code, status = cli_json(spin, "--namespace", "ignored-with-an-engine", "status")
    assert code == 0
    assert status["namespace"] == spin.namespace
    queues = {q["name"]: q for q in status["queues"]}
    assert set(queues) == {DEFAULT, OTHER}
    assert {k: v for k, v in queues[DEFAULT].items() if k != "oldest_ready_age"} == {
        "name": DEFAULT, "ready": 3, "delayed": 1, "running": 0, "failed": 2, "paused": False,
        "max_running": None,
    }  # fmt: skip
    assert queues[OTHER]["ready"] == 1 and queues[OTHER]["failed"] == 1
    assert 0 <= queues[DEFAULT]["oldest_ready_age"] < 60
    assert status["workers"] == []

    code, text = cli(spin, "status")
    assert code == 0
    assert text.startswith(f"Namespace {spin.namespace}\n")
    rows = section(text, "QUEUE", "READY")
    assert rows[0] == ["QUEUE", "READY", "DELAYED", "RUNNING", "FAILED", "OLDEST READY", "STATE"]
    assert rows[1][:5] == [OTHER, "1", "0", "0", "1"]  # queues in name order
    assert rows[1][6] == rows[2][6] == "running"
    assert rows[2][:5] == [DEFAULT, "3", "1", "0", "2"]
    assert rows[2][5].endswith("s")  # seconds, for a job sent a moment ago
    assert "No live worker." in text

    code, only = cli_json(spin, "status", "--queue", OTHER)
    assert code == 0
    assert [q["name"] for q in only["queues"]] == [OTHER]


def test_status_shows_a_live_worker_its_periodic_task_and_a_concurrency_limit_in_use(
    spin: Engine, app: App
) -> None:
    first, second = spin.schedule("hold", 1), spin.schedule("hold", 2)
    spin.start_workers(number=2, block=False, lease_seconds=3)  # a heartbeat every second

    def limit_in_use() -> bool:
        status = cli_json(spin, "status")[1]
        shown = ("queue", "task", "limit", "running", "waiting", "code_limit", "override")
        return [{k: lim[k] for k in shown} for lim in status["limits"]] == [
            {
                "queue": DEFAULT, "task": "hold", "limit": 1, "running": 1, "waiting": 1,
                "code_limit": 1, "override": None,
            }
        ] and [w["jobs_running"] for w in status["workers"]] == [1]  # fmt: skip

    wait_for(limit_in_use, message="one hold job running, the other held back by the limit")
    code, status = cli_json(spin, "status")
    assert code == 0
    [worker] = status["workers"]
    assert worker["host"] == socket.gethostname()
    assert worker["pid"] == os.getpid()
    assert (worker["queue"], worker["threads"]) == (DEFAULT, 2)
    now = redis_now(spin)
    started = datetime.fromisoformat(worker["started_at"])
    heartbeat = datetime.fromisoformat(worker["last_heartbeat"])
    assert started <= now + timedelta(seconds=1) and now - started < timedelta(seconds=30)
    assert now - heartbeat < timedelta(seconds=5)
    [periodic] = status["periodic"]
    assert (periodic["queue"], periodic["task"]) == (DEFAULT, "tick")
    next_run = datetime.fromisoformat(periodic["next_run"]) - now
    assert timedelta(minutes=59) < next_run <= timedelta(hours=1)
    assert {q["name"]: q["running"] for q in status["queues"]} == {DEFAULT: 1, OTHER: 0}

    running = first.job_id if status_of(spin, first.job_id) is JobStatus.RUNNING else second.job_id
    code, job = cli_json(spin, "job", "show", running)
    assert (code, job["status"], job["worker"], job["attempts"]) == (0, "running", worker["id"], 1)

    code, text = cli(spin, "status")
    assert code == 0
    workers = section(text, "HOST")
    assert workers[0] == [
        "HOST", "PID", "QUEUE", "THREADS", "RUNNING", "STARTED", "LAST HEARTBEAT", "ID",
    ]  # fmt: skip
    assert workers[1][:5] == [socket.gethostname(), str(os.getpid()), DEFAULT, "2", "1"]
    assert workers[1][-1] == worker["id"]
    assert section(text, "QUEUE", "PERIODIC TASK")[1][:2] == [DEFAULT, "tick"]
    assert section(text, "QUEUE", "LIMITED TASK")[1] == [DEFAULT, "hold", "1", "1", "1"]

    app.release.set()
    wait_for(lambda: len(app.ran("hold")) == 2, message="both hold jobs")
    spin.stop_workers()
    code, status = cli_json(spin, "status")
    assert status["workers"] == []  # a worker that stopped says so at once
    assert "No live worker." in cli(spin, "status")[1]


# -- jobs failed -------------------------------------------------------------------------------


def test_jobs_failed_lists_failed_jobs_of_every_queue_newest_first_one_page_at_a_time(
    spin: Engine, app: App
) -> None:
    app.broken.set()
    oldest = fail_now(spin, "fragile", 1)
    middle = fail_now(spin, "fragile_other", 2)
    newest = fail_now(spin, "doomed", 3)

    code, jobs = cli_json(spin, "jobs", "failed")
    assert code == 0
    assert [job["id"] for job in jobs] == [newest, middle, oldest]
    assert [job["queue"] for job in jobs] == [DEFAULT, OTHER, DEFAULT]
    varying = {"created_at": None, "started_at": None, "finished_at": None, "traceback": None}
    assert jobs[0] | varying == {
        "id": newest, "queue": DEFAULT, "task": "doomed", "status": "failed", "attempts": 1,
        "max_retries": 0, "created_at": None, "due_at": None, "started_at": None,
        "finished_at": None, "worker": jobs[0]["worker"], "error_type": "ValueError",
        "error_message": "doomed 3", "traceback": None, "args": [3], "kwargs": {},
        "retriable": True, "unique_key": None, "waiting_for": None, "priority": 0,
        "rate_key": None, "stores_result": False, "result_state": None, "result": None,
        "workflow": None, "progress": None, "progress_message": None, "progress_at": None,
        "cancel_requested_at": None,
    }  # fmt: skip
    assert jobs[0]["worker"]
    assert jobs[0]["traceback"].rstrip().endswith("ValueError: doomed 3")
    times = [datetime.fromisoformat(job["finished_at"]) for job in jobs]
    assert times == sorted(times, reverse=True) and len(set(times)) == 3

    def page(*argv: str) -> list[str]:
        code, found = cli_json(spin, "jobs", "failed", *argv)
        assert code == 0
        return [job["id"] for job in found]

    assert page("--limit", "2") == [newest, middle]
    assert page("--limit", "2", "--offset", "1") == [middle, oldest]
    assert page("--offset", "2") == [oldest]
    assert page("--offset", "3") == []
    assert page("--queue", OTHER) == [middle]
    assert page("--queue", DEFAULT, "--limit", "1", "--offset", "1") == [oldest]

    code, text = cli(spin, "jobs", "failed")
    assert code == 0
    rows = table(text)
    assert rows[0] == ["ID", "QUEUE", "TASK", "FAILED AT", "ATTEMPTS", "ERROR"]
    assert [row[0] for row in rows[1:]] == [newest, middle, oldest]
    assert rows[1][1:3] == [DEFAULT, "doomed"]
    assert rows[1][4:] == ["1", "ValueError: doomed 3"]
    assert rows[2][5] == "RuntimeError: broken"
    assert cli(spin, "jobs", "failed", "--offset", "3") == (0, "No failed jobs.\n")


# -- job show ----------------------------------------------------------------------------------


def test_job_show_tells_where_a_job_is_its_attempts_its_error_and_its_arguments(
    spin: Engine, app: App
) -> None:
    doomed = spin.schedule("doomed", 7, flag="x").job_id
    flaky = spin.schedule("flaky", 8).job_id
    succeeded = spin.schedule("ok", 9).job_id
    drain(spin)
    waiting = spin.schedule_in("ok", timedelta(hours=1), 10).job_id
    queued = spin.schedule("ok", 11).job_id

    def show(job_id: str) -> dict[str, Any]:
        code, job = cli_json(spin, "job", "show", job_id)
        assert code == 0
        assert job["id"] == job_id
        return dict(job)

    job = show(doomed)
    assert (job["status"], job["task"], job["queue"]) == ("failed", "doomed", DEFAULT)
    assert (job["attempts"], job["max_retries"]) == (1, 0)
    assert (job["error_type"], job["error_message"]) == ("ValueError", "doomed 7")
    assert (job["args"], job["kwargs"], job["retriable"]) == ([7], {"flag": "x"}, True)
    created, started, finished = (
        datetime.fromisoformat(job[k]) for k in ("created_at", "started_at", "finished_at")
    )
    assert created <= started <= finished

    job = show(flaky)
    assert (job["status"], job["attempts"], job["max_retries"]) == ("failed", 3, 2)
    assert job["error_type"] == "ConnectionError"
    assert job["error_message"] == "the flaky service is away"
    assert app.ran("flaky") == [(8,)] * 3

    job = show(succeeded)
    assert (job["status"], job["attempts"], job["error_type"]) == ("succeeded", 1, None)

    job = show(waiting)
    assert (job["status"], job["attempts"], job["args"]) == ("waiting", 0, [10])
    due = datetime.fromisoformat(job["due_at"]) - redis_now(spin)
    assert timedelta(minutes=59) < due <= timedelta(hours=1)

    assert show(queued)["status"] == "queued"

    code, text = cli(spin, "job", "show", doomed)
    assert code == 0
    head, _, trace = text.partition("\n\ntraceback of the last failed run:\n")
    assert trace.startswith("Traceback (most recent call last):"), text
    assert trace.rstrip().endswith("ValueError: doomed 7") and "raise ValueError" in trace
    fields = {row[0]: row[1] for row in table(head)}
    assert fields["id"] == doomed
    assert fields["status"] == "failed"
    assert fields["attempts"] == "1"
    assert fields["max retries"] == "0"
    assert fields["error"] == "ValueError: doomed 7"
    assert fields["args"] == "[7]"
    assert fields["kwargs"] == "{'flag': 'x'}"
    assert fields["due"] == "-"


def test_job_show_of_an_unknown_id_exits_1(spin: Engine, app: App) -> None:
    assert cli(spin, "job", "show", "no-such-job") == (1, "No job no-such-job.\n")
    assert cli_json(spin, "job", "show", "no-such-job") == (
        1,
        {"id": "no-such-job", "found": False},
    )


# -- jobs ready, delayed, running, finished ---------------------------------------------------


def test_jobs_lists_ready_delayed_running_finished_and_held_jobs_page_by_page(
    spin: Engine, app: App
) -> None:
    done = [spin.schedule("ok", n).job_id for n in range(3)]
    drain(spin)
    ready = [spin.schedule("ok", n).job_id for n in range(3)] + [spin.schedule("fragile", 9).job_id]
    later = spin.schedule_in("ok", timedelta(hours=2), 20).job_id
    sooner = spin.schedule_in("ok", timedelta(hours=1), 21).job_id
    other = spin.schedule("fragile_other", 5).job_id

    def ids(*argv: str) -> list[str]:
        code, pages = cli_json(spin, "jobs", *argv)
        assert code == 0
        return [job["id"] for page in pages.values() for job in page["jobs"]]

    assert ids("ready", "--queue", DEFAULT) == ready  # oldest first
    assert ids("ready") == [other, *ready]  # every queue in turn, by name
    assert ids("ready", "--queue", DEFAULT, "--task", "fragile") == ready[3:]
    assert ids("ready", "--queue", DEFAULT, "--limit", "2", "--offset", "1") == ready[1:3]
    assert ids("delayed") == [sooner, later]  # soonest first
    assert sorted(ids("finished", "--queue", DEFAULT)) == sorted(done)  # two threads ran them
    code, pages = cli_json(spin, "jobs", "ready", "--queue", DEFAULT, "--limit", "3")
    assert (pages[DEFAULT]["total"], pages[DEFAULT]["next_offset"]) == (4, 3)

    code, text = cli(spin, "jobs", "ready", "--queue", DEFAULT, "--limit", "3")
    assert code == 0
    rows = table(text)
    assert rows[0] == ["ID", "QUEUE", "TASK", "QUEUED AT", "ATTEMPTS", "WORKER"]
    assert [row[0] for row in rows[1:4]] == ready[:3]
    assert rows[4] == [
        f"Queue {DEFAULT!r} holds 4 ready jobs: the next page is --queue {DEFAULT} --offset 3."
    ]
    assert table(cli(spin, "jobs", "finished", "--queue", DEFAULT)[1])[1][-1] == "succeeded"
    assert cli(spin, "jobs", "running") == (0, "No running jobs.\n")
    assert cli(spin, "jobs", "ready", "--task", "nope") == (0, "No ready jobs of task 'nope'.\n")

    held = spin.schedule("hold", 1).job_id
    behind = [spin.schedule("hold", n).job_id for n in (2, 3)]  # max_concurrency=1
    spin.start_workers(number=2, block=False)
    wait_for(lambda: app.ran("hold started") == [(1,)], message="the hold job started")
    wait_for(lambda: ids("held") == behind, message="two jobs held back by the limit, in order")
    assert ids("held", "--queue", DEFAULT, "--task", "hold", "--offset", "1") == behind[1:]
    assert ids("held", "--queue", DEFAULT, "--task", "ok") == []
    rows = table(cli(spin, "jobs", "held", "--queue", DEFAULT)[1])
    assert [row[0] for row in rows[1:]] == behind and rows[1][2] == "hold"
    assert cli_json(spin, "jobs", "running")[0] == 0
    pages = cli_json(spin, "jobs", "running")[1]
    [running] = [job for page in pages.values() for job in page["jobs"]]
    assert (running["id"], running["status"]) == (held, "running") and running["worker"]
    app.release.set()
    wait_for(lambda: len(app.ran("hold")) == 3, message="the held jobs ran once released")
    assert cli(spin, "jobs", "finished", "--limit", "0")[0] == 2  # bad usage, not a crash


# -- job retry ---------------------------------------------------------------------------------


def test_job_retry_runs_a_failed_job_again_under_its_id_until_it_succeeds(
    spin: Engine, app: App
) -> None:
    app.broken.set()
    job_id = fail_now(spin, "fragile", 1)
    app.broken.clear()

    assert cli(spin, "job", "retry", job_id) == (0, f"Job {job_id} is queued again.\n")
    assert status_of(spin, job_id) is JobStatus.QUEUED
    assert cli_json(spin, "jobs", "failed")[1] == []
    drain(spin)

    assert app.ran("fragile") == [(1,), (1,)]
    code, job = cli_json(spin, "job", "show", job_id)
    assert (code, job["status"], job["attempts"], job["error_type"]) == (0, "succeeded", 1, None)
    assert cli_json(spin, "job", "retry", job_id) == (1, {"id": job_id, "retried": False})


def test_job_retry_gives_the_job_a_fresh_attempt_budget(spin: Engine, app: App) -> None:
    job_id = fail_now(spin, "flaky", 1)
    assert cli_json(spin, "job", "retry", job_id) == (0, {"id": job_id, "retried": True})
    drain(spin)
    assert app.ran("flaky") == [(1,)] * 6
    code, job = cli_json(spin, "job", "show", job_id)
    assert (code, job["status"], job["attempts"]) == (0, "failed", 3)


def test_job_retry_of_a_job_that_did_not_fail_exits_1(spin: Engine, app: App) -> None:
    queued = spin.schedule("ok", 1).job_id
    code, text = cli(spin, "job", "retry", queued)
    assert code == 1
    assert "not in the failed-job store" in text
    assert cli(spin, "job", "retry", "no-such-job")[0] == 1
    assert status_of(spin, queued) is JobStatus.QUEUED


# -- job cancel --------------------------------------------------------------------------------


def test_job_cancel_of_a_waiting_or_queued_job_means_it_never_runs(spin: Engine, app: App) -> None:
    waiting = spin.schedule_in("ok", timedelta(hours=1), 1).job_id
    queued = spin.schedule("ok", 2).job_id
    kept = spin.schedule("ok", 3).job_id

    cancelled = f"Job {waiting} is cancelled: it will not run.\n"
    assert cli(spin, "job", "cancel", waiting) == (0, cancelled)
    assert cli_json(spin, "job", "cancel", queued) == (0, {"id": queued, "result": "cancelled"})
    drain(spin)

    assert app.ran("ok") == [(3,)]
    assert status_of(spin, kept) is JobStatus.SUCCEEDED
    for job_id in (waiting, queued):
        code, job = cli_json(spin, "job", "show", job_id)
        assert (code, job["status"]) == (0, "cancelled")
        code, text = cli(spin, "job", "cancel", job_id)
        assert (code, text) == (1, f"Job {job_id} has already finished.\n")
    code, status = cli_json(spin, "status")
    [queue] = (q for q in status["queues"] if q["name"] == DEFAULT)
    assert queue == {
        "name": DEFAULT, "ready": 0, "delayed": 0, "running": 0, "failed": 0, "paused": False,
        "max_running": None,
        "oldest_ready_age": None,
    }  # fmt: skip


def test_job_cancel_of_a_running_job_asks_its_worker_to_stop_it(spin: Engine, app: App) -> None:
    job_id = spin.schedule("hold", 1).job_id
    spin.start_workers(number=1, block=False)
    # Its function has started (RUNNING alone says its worker holds it: it may not have begun).
    wait_for(lambda: app.ran("hold started") == [(1,)], message="the job to start")
    assert status_of(spin, job_id) is JobStatus.RUNNING

    asked = f"Job {job_id} is running: its worker is asked to stop it.\n"
    assert cli(spin, "job", "cancel", job_id) == (0, asked)
    # Asked again: still being stopped, or stopped already.
    assert cli_json(spin, "job", "cancel", job_id) in (
        (0, {"id": job_id, "result": "requested"}),
        (1, {"id": job_id, "result": "finished"}),
    )
    wait_for(lambda: status_of(spin, job_id) is JobStatus.CANCELLED, message="the job to stop")
    app.release.set()
    spin.stop_workers()
    assert app.ran("hold started") == [(1,)] and app.ran("hold") == []  # stopped mid-run


def test_job_cancel_of_an_unknown_id_exits_1(spin: Engine, app: App) -> None:
    assert cli(spin, "job", "cancel", "no-such-job") == (1, "No job no-such-job.\n")
    assert cli_json(spin, "job", "cancel", "no-such-job") == (
        1,
        {"id": "no-such-job", "result": "not_found"},
    )


# -- failed retry-all / purge ------------------------------------------------------------------


def test_failed_retry_all_queues_again_the_failed_jobs_of_one_queue_or_of_all(
    spin: Engine, app: App
) -> None:
    app.broken.set()
    defaults = [fail_now(spin, "fragile", n) for n in (1, 2)]
    other = fail_now(spin, "fragile_other", 3)
    app.broken.clear()

    assert cli_json(spin, "failed", "retry-all", "--queue", OTHER) == (0, {"retried": 1})
    status = cli_json(spin, "status")[1]
    counts = {q["name"]: (q["ready"], q["failed"]) for q in status["queues"]}
    assert counts == {DEFAULT: (0, 2), OTHER: (1, 0)}

    assert cli(spin, "failed", "retry-all") == (0, "2 failed jobs queued again.\n")
    assert cli(spin, "failed", "retry-all") == (0, "0 failed jobs queued again.\n")
    drain(spin)
    drain(spin, OTHER)
    for job_id in [*defaults, other]:
        assert status_of(spin, job_id) is JobStatus.SUCCEEDED
    assert cli_json(spin, "jobs", "failed")[1] == []


def test_failed_purge_asks_for_yes_then_deletes_failed_jobs_for_good(
    spin: Engine, app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    app.broken.set()
    defaults = [fail_now(spin, "fragile", n) for n in (1, 2)]
    fail_now(spin, "fragile_other", 3)

    assert cli(spin, "failed", "purge") == (2, "")
    assert "--yes" in capsys.readouterr().err
    assert len(cli_json(spin, "jobs", "failed")[1]) == 3

    assert cli_json(spin, "failed", "purge", "--queue", OTHER, "--yes") == (0, {"purged": 1})
    assert [job["id"] for job in cli_json(spin, "jobs", "failed")[1]] == defaults[::-1]
    assert cli(spin, "failed", "purge", "--yes") == (0, "2 failed jobs deleted.\n")
    assert cli_json(spin, "jobs", "failed")[1] == []
    assert cli(spin, "job", "show", defaults[0])[0] == 1  # gone for good: nothing to retry
    assert cli(spin, "job", "retry", defaults[0])[0] == 1


# -- doctor ------------------------------------------------------------------------------------


def test_doctor_fails_without_aof_and_exits_1(spin: Engine, app: App) -> None:
    spin.schedule("ok", 1)
    code, checks = cli_json(spin, "doctor", "--queue", DEFAULT)
    assert code == 1
    verdicts = {check["name"]: check["verdict"] for check in checks}
    assert verdicts["aof"] == "fail"
    assert verdicts["schema"] == "pass"
    assert verdicts["workers"] == "warn"  # nobody runs a worker of the queue
    assert {check["name"] for check in checks} >= {"aof", "auth", "tls", "clock", "retries"}

    code, text = cli(spin, "doctor", "--queue", DEFAULT)
    assert code == 1
    aof = next(line for line in text.splitlines() if line.startswith("FAIL"))
    assert aof.split()[:2] == ["FAIL", "aof"]
    assert "-> " in text  # the advice of the failed check


# -- by URL, through the environment and through the installed command -------------------------


@pytest.mark.redis
@pytest.mark.parametrize("broker_kind", ["redis"])
def test_the_command_finds_a_namespace_of_a_redis_given_by_url(
    spin: Engine, app: App, redis_server: RedisServer
) -> None:
    job_id = fail_now(spin, "doomed", 1)
    out = io.StringIO()
    argv = ["--redis-url", redis_server.url, "--namespace", spin.namespace, "--json"]
    assert main([*argv, "jobs", "failed"], out=out) == 0
    assert [job["id"] for job in json.loads(out.getvalue())] == [job_id]

    out = io.StringIO()
    assert main([*argv, "status"], out=out) == 0
    assert {q["name"]: q["failed"] for q in json.loads(out.getvalue())["queues"]} == {DEFAULT: 1}

    out = io.StringIO()
    assert main(["--redis-url", redis_server.url, "--namespace", "elsewhere", "jobs", "failed"],
                out=out) == 1  # fmt: skip
    assert out.getvalue().startswith(f"No namespace 'elsewhere' in Redis at {redis_server.url}")
    assert spin.namespace in out.getvalue()  # the namespaces there are listed

    out = io.StringIO()
    assert main([*argv, "failed", "retry-all"], out=out) == 0
    assert json.loads(out.getvalue()) == {"retried": 1}


@pytest.mark.redis
@pytest.mark.parametrize("broker_kind", ["redis"])
def test_the_redis_url_can_come_from_spinach_redis_url(
    spin: Engine, app: App, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued = spin.schedule("ok", 1).job_id
    monkeypatch.setenv("SPINACH_REDIS_URL", redis_server.url)
    out = io.StringIO()
    assert main(["--namespace", spin.namespace, "--json", "job", "cancel", queued], out=out) == 0
    assert json.loads(out.getvalue()) == {"id": queued, "result": "cancelled"}
    out = io.StringIO()
    assert main(["--namespace", spin.namespace, "doctor"], out=out) == 1
    assert out.getvalue().startswith("FAIL     aof")


@pytest.mark.redis
@pytest.mark.parametrize("broker_kind", ["redis"])
def test_the_installed_spinach_command_exits_with_the_code_of_its_command(
    spin: Engine, app: App, redis_server: RedisServer
) -> None:
    command = Path(sys.executable).parent / "spinach"
    assert command.exists(), "the spinach-client console script is not installed"
    job_id = fail_now(spin, "doomed", 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPINACH_")}

    def run(*argv: str, url: str = redis_server.url) -> "subprocess.CompletedProcess[str]":
        return subprocess.run(
            [str(command), "--redis-url", url, "--namespace", spin.namespace, *argv],
            capture_output=True, text=True, env=env, timeout=30,
        )  # fmt: skip

    shown = run("--json", "job", "show", job_id)
    assert (shown.returncode, shown.stderr) == (0, "")
    assert json.loads(shown.stdout)["error_message"] == "doomed 1"
    assert run("job", "cancel", job_id).returncode == 1
    usage = run("jobs", "failed", "--limit", "0")
    assert usage.returncode == 2 and "limit" in usage.stderr
    unreachable = run("status", url=f"redis://127.0.0.1:{free_port()}/0")
    assert unreachable.returncode == 3 and "cannot reach Redis" in unreachable.stderr
    version = run("status", "--version")
    assert (version.returncode, version.stdout.split()[:2]) == (0, ["spinach", spinach.__version__])
    typo = run("status", "--namespace", "no-such-ns")
    assert typo.returncode == 1 and "No namespace 'no-such-ns'" in typo.stdout


def test_an_unreachable_redis_exits_3_and_is_named_without_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"redis://admin:s3cret-pw@127.0.0.1:{free_port()}/0"
    for argv in (["status"], ["jobs", "failed"], ["job", "show", "x"], ["doctor"]):
        out = io.StringIO()
        assert main(["--redis-url", url, *argv], out=out) == 3, argv
        err = capsys.readouterr().err
        assert "cannot reach Redis at redis://admin:***@127.0.0.1:" in err, err
        assert "s3cret-pw" not in err
        assert out.getvalue() == ""


def test_data_of_another_schema_exits_3_but_doctor_reports_it_as_a_failed_check(
    spin: Engine, app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    spin.schedule("ok", 1)
    spin.broker.client.set(queue_keys(spin.namespace, DEFAULT).schema, "999")
    spin.broker.schema_checked.clear()  # as in a new process: the schema is checked once per queue
    for argv in (["status"], ["jobs", "failed"], ["failed", "retry-all"], ["job", "show", "x"]):
        assert cli(spin, *argv) == (3, ""), argv
        assert "schema 999" in capsys.readouterr().err
    code, checks = cli_json(spin, "doctor", "--queue", DEFAULT)
    assert code == 1
    [schema] = (check for check in checks if check["name"] == "schema")
    assert schema["verdict"] == "fail" and "999" in schema["detail"]


# -- bad usage ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["frobnicate"],
        [],
        ["job", "show"],
        ["failed", "retry"],
        ["jobs", "failed", "--limit", "many"],
    ],
    ids=["unknown-command", "no-command", "missing-id", "unknown-action", "limit-not-a-number"],
)
def test_a_command_line_argparse_refuses_exits_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, out=io.StringIO()) == 2  # returned, not raised: embeddable
    assert "usage: spinach" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["jobs", "failed", "--limit", "0"],
        ["jobs", "failed", "--limit", "1001"],
        ["jobs", "failed", "--offset", "-1"],
        ["jobs", "failed", "--queue", "_reserved"],
        ["failed", "purge"],
    ],
    ids=["limit-0", "limit-over-a-page", "negative-offset", "reserved-queue", "purge-without-yes"],
)
def test_a_command_that_cannot_be_carried_out_as_asked_exits_2(
    spin: Engine, app: App, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(spin, *argv) == (2, "")
    assert capsys.readouterr().err.startswith("spinach: ")


def test_a_bad_redis_url_or_namespace_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--redis-url", "http://127.0.0.1:1/0", "status"], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert "scheme" in err
    for scheme in ("redis", "rediss", "redis+cluster", "rediss+cluster", "redis+sentinel"):
        assert f" {scheme}://" in err, scheme
    assert main(["--namespace", "a {b}", "status"], out=io.StringIO()) == 2
    assert "spinach: " in capsys.readouterr().err


# -- bugs found while writing these tests ------------------------------------------------------


@pytest.mark.parametrize("action", [["retry-all"], ["purge", "--yes"]], ids=["retry-all", "purge"])
def test_failed_retry_all_or_purge_of_a_bad_queue_name_exits_2(
    spin: Engine, app: App, action: list[str]
) -> None:
    assert cli(spin, "failed", *action, "--queue", "_reserved")[0] == 2


@pytest.mark.parametrize("command", ["status", "doctor"])
def test_status_or_doctor_of_a_bad_queue_name_exits_2(spin: Engine, app: App, command: str) -> None:
    assert cli(spin, command, "--queue", "_reserved")[0] == 2


def test_an_unreachable_redis_cluster_exits_3() -> None:
    url = f"redis+cluster://127.0.0.1:{free_port()}/0"
    assert main(["--redis-url", url, "status"], out=io.StringIO()) == 3


def test_with_an_engine_an_unreachable_redis_is_named_by_the_engines_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPINACH_REDIS_URL", raising=False)
    port = free_port()
    engine = Engine(RedisBroker.from_url(f"redis://127.0.0.1:{port}/0"), namespace="app")
    try:
        assert main(["status"], out=io.StringIO(), engine=engine) == 3
    finally:
        engine.broker.close()
    err = capsys.readouterr().err
    assert "6379" not in err, err
    assert f"cannot reach Redis at redis://127.0.0.1:{port}/0" in err, err


@pytest.fixture(scope="module")
def locked_server() -> Iterator[RedisServer]:
    """A redis-server that requires a password."""
    server = RedisServer(["--requirepass", "the-right-password"])
    server.client_options = {"password": "the-right-password"}
    try:
        server.start(attempts=3)
    except RuntimeError:
        pytest.skip("redis-server is not available")
    yield server
    server.cleanup()


@pytest.mark.redis
def test_a_wrong_password_exits_3_saying_redis_refused_it(
    locked_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://:a-wrong-password@127.0.0.1:{locked_server.port}/0"
    assert main(["--redis-url", url, "status"], out=io.StringIO()) == 3
    err = capsys.readouterr().err
    assert "a-wrong-password" not in err
    assert f"Redis at redis://:***@127.0.0.1:{locked_server.port}/0 refused" in err


def test_status_counts_the_age_of_a_retried_job_from_when_it_was_queued_again(
    spin: Engine, app: App
) -> None:
    app.broken.set()
    job_id = fail_now(spin, "fragile", 1)
    info = spin.get_job(job_id)
    assert info is not None and info.finished_at is not None
    failed_at = info.finished_at
    wait_for(lambda: redis_now(spin) > failed_at + timedelta(seconds=0.3), message="0.3 s")
    assert cli_json(spin, "failed", "retry-all") == (0, {"retried": 1})
    [queue] = (q for q in cli_json(spin, "status")[1]["queues"] if q["name"] == DEFAULT)
    assert queue["ready"] == 1
    assert queue["oldest_ready_age"] < 0.3


def test_get_job_and_cancel_take_the_job_id_that_schedule_returns(spin: Engine, app: App) -> None:
    job = spin.schedule("ok", 1)
    info = spin.get_job(job.id)  # type: ignore[arg-type]
    assert info is not None and info.status is JobStatus.QUEUED
    assert spin.cancel(job.id)  # type: ignore[arg-type]


def test_doctor_of_a_queue_on_an_unreachable_redis_exits_3() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    out = io.StringIO()
    assert main(["--redis-url", url, "doctor"], out=out) == 3  # without --queue: right
    assert main(["--redis-url", url, "doctor", "--queue", DEFAULT], out=out) == 3


def test_json_is_also_taken_after_the_command(spin: Engine, app: App) -> None:
    spin.schedule("ok", 1)
    code, text = cli(spin, "status", "--json")
    assert code == 0
    queues = {q["name"]: q["ready"] for q in json.loads(text)["queues"]}
    assert queues[DEFAULT] == 1


# -- the command as people type it -------------------------------------------------------------


def typed(*argv: str) -> tuple[int, str]:
    """Run `spinach ARGV` as typed (no engine): (exit code, standard output)."""
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.mark.redis
@pytest.mark.parametrize("broker_kind", ["redis"])
def test_the_global_options_are_taken_after_the_command_at_every_level(
    spin: Engine, app: App, redis_server: RedisServer
) -> None:
    job_id = fail_now(spin, "doomed", 1)
    url, ns = redis_server.url, spin.namespace
    where = ["--redis-url", url, "--namespace", ns]

    code, text = typed("status", *where, "--json")
    assert code == 0 and [q["name"] for q in json.loads(text)["queues"]] == [DEFAULT]
    code, text = typed("jobs", "failed", "--namespace", ns, "--json", "--redis-url", url)
    assert code == 0 and [job["id"] for job in json.loads(text)] == [job_id]
    code, text = typed("jobs", "--namespace", ns, "--redis-url", url, "failed")
    assert code == 0 and job_id in text  # between the command and its sub-command too
    code, text = typed("--json", "job", "show", job_id, *where)
    assert code == 0 and json.loads(text)["error_message"] == "doomed 1"
    code, text = typed("failed", "purge", "--yes", *where, "--json")
    assert (code, json.loads(text)) == (0, {"purged": 1})
    code, text = typed("doctor", *where, "--json")
    assert code == 1 and {c["name"] for c in json.loads(text)} >= {"aof", "schema"}
    # After the command wins over before it, as it was typed last.
    code, text = typed("--namespace", "not-this-one", "status", *where)
    assert code == 0 and text.startswith(f"Namespace {ns}\n")


def _leaf_parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command line that runs something, with its parser (argparse's own tree)."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield path, parser
    for group in groups:
        for name, child in group.choices.items():
            yield from _leaf_parsers(child, (*path, name))


def test_every_command_takes_the_global_options_after_it() -> None:
    parser = build_parser()
    leaves = dict(_leaf_parsers(parser))
    assert {"status", "jobs failed", "job show", "failed purge", "doctor"} <= {
        " ".join(path) for path in leaves
    }
    for path in leaves:
        needs_id = {"job": ["an-id"], "queue": ["a-queue"]}.get(path[0], [])
        if path == ("queue", "limit"):
            needs_id.append("3")
        args = parser.parse_args(
            [*path, *needs_id, "--namespace", "ns", "--redis-url", "redis://h:1/2", "--json"]
        )
        assert (args.namespace, args.redis_url, args.json) == ("ns", "redis://h:1/2", True), path


def test_the_namespace_and_url_come_from_the_environment_unless_typed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPINACH_NAMESPACE", "from-env")
    monkeypatch.setenv("SPINACH_REDIS_URL", "redis://env-host:1/0")
    args = build_parser().parse_args(["status"])
    assert (args.namespace, args.redis_url) == ("from-env", "redis://env-host:1/0")
    args = build_parser().parse_args(["status", "--namespace", "typed"])
    assert (args.namespace, args.redis_url) == ("typed", "redis://env-host:1/0")


@pytest.mark.parametrize("argv", [["--version"], ["status", "--version"], ["jobs", "--version"]])
def test_version_prints_the_versions_and_exits_0(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, out=io.StringIO()) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"spinach {spinach.__version__} (spinach-lua ")
    assert f"schema {spinach_lua.SCHEMA_VERSION}" in printed and "redis-py" in printed


# -- names that do not exist -------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["status"], ["jobs", "failed"], ["failed", "retry-all"], ["failed", "purge", "--yes"],
     ["job", "show", "some-id"], ["job", "cancel", "some-id"]],
    ids=lambda argv: "-".join(argv[:2]),
)  # fmt: skip
def test_an_unknown_namespace_exits_1_and_lists_the_namespaces_there(
    spin: Engine, make_broker: Callable[[], Broker], argv: list[str]
) -> None:
    real = Engine(make_broker(), namespace=f"{spin.namespace}-real")
    real.task(lambda: None, name="noop")
    real.schedule("noop")  # the namespace now exists; `spin`'s, with no task, does not

    code, text = cli(spin, *argv)
    assert code == 1
    assert text.startswith(f"No namespace {spin.namespace!r} in Redis at ")
    assert "no job was ever sent to it and no worker ran in it" in text
    assert f"{spin.namespace}-real" in text.split("Namespaces there: ")[1]
    code, found = cli_json(spin, *argv)
    assert (code, found["namespace"], found["found"]) == (1, spin.namespace, False)
    assert f"{spin.namespace}-real" in found["namespaces"] and found["complete"] is True


@pytest.mark.parametrize(
    "argv",
    [["status"], ["jobs", "failed"], ["failed", "retry-all"], ["failed", "purge", "--yes"]],
    ids=lambda argv: "-".join(argv),
)
def test_an_unknown_queue_exits_1_and_lists_the_queues_of_the_namespace(
    spin: Engine, app: App, argv: list[str]
) -> None:
    app.broken.set()
    failed = fail_now(spin, "fragile", 1)

    code, text = cli(spin, *argv, "--queue", "spinnach")
    assert (code, text) == (
        1,
        f"No queue 'spinnach' in namespace {spin.namespace!r}. Its queues: {OTHER}, {DEFAULT}.\n",
    )
    code, found = cli_json(spin, *argv, "--queue", "spinnach")
    assert (code, found) == (1, {
        "namespace": spin.namespace, "queue": "spinnach", "found": False,
        "queues": [OTHER, DEFAULT],
    })  # fmt: skip
    assert [job["id"] for job in cli_json(spin, "jobs", "failed")[1]] == [failed]  # untouched


def test_doctor_of_an_unknown_namespace_checks_the_server_and_fails_on_the_name(
    spin: Engine,
) -> None:
    code, checks = cli_json(spin, "doctor")
    assert code == 1
    names = [check["name"] for check in checks]
    assert "aof" in names and not {"schema", "workers", "retries"} & set(names)
    [finding] = (check for check in checks if check["name"] == "namespace")
    assert finding["verdict"] == "fail"
    assert finding["detail"].startswith(f"No namespace {spin.namespace!r}")
    assert "--namespace" in finding["advice"]


def test_doctor_of_an_unknown_queue_fails_on_the_name(spin: Engine, app: App) -> None:
    code, checks = cli_json(spin, "doctor", "--queue", "nope")
    assert code == 1
    [finding] = (check for check in checks if check["name"] == "queue")
    assert finding["verdict"] == "fail" and "Its queues: " in finding["detail"]
    code, text = cli(spin, "doctor", "--queue", "nope")
    assert "FAIL     queue        No queue 'nope'" in text


@pytest.mark.redis
@pytest.mark.parametrize("broker_kind", ["redis"])
def test_doctor_without_queue_checks_every_queue_the_namespace_used(
    spin: Engine, app: App, redis_server: RedisServer
) -> None:
    spin.schedule("ok", 1)
    spin.schedule("fragile_other", 2)
    code, text = typed(
        "doctor", "--redis-url", redis_server.url, "--namespace", spin.namespace, "--json"
    )
    assert code == 1  # no AOF on the test's server
    schema = [c["detail"] for c in json.loads(text) if c["name"] == "schema"]
    assert [detail.split(":")[0] for detail in schema] == [f"queue {OTHER!r}", f"queue {DEFAULT!r}"]


def test_job_show_and_jobs_ready_show_priorities(spin: Engine, app: App) -> None:
    plain = spin.schedule("doomed", 1).job_id
    urgent = spin.schedule_with("doomed", (2,), priority=9).job_id
    code, text = cli(spin, "job", "show", urgent)
    assert code == 0
    assert {row[0]: row[1] for row in table(text)}["priority"] == "9"
    code, text = cli(spin, "job", "show", plain)
    assert "priority" not in {row[0] for row in table(text)}  # the default is not shown
    code, pages = cli_json(spin, "jobs", "ready", "--queue", DEFAULT)
    jobs = pages[DEFAULT]["jobs"]
    assert [(job["id"], job["priority"]) for job in jobs] == [(urgent, 9), (plain, 0)]


def test_job_show_shows_a_result_and_the_last_progress(spin: Engine, app: App) -> None:
    job = spin.schedule("answer", 42).job_id
    drain(spin)
    waiting = spin.schedule_with("answer", (1,), delay=3600).job_id
    code, text = cli(spin, "job", "show", job)
    fields = {row[0]: " ".join(row[1:]) for row in table(text)}
    assert code == 0 and fields["result"] == '{"answer": 42}'
    assert fields["progress"].startswith("50% (halfway), ")
    assert {row[0]: " ".join(row[1:]) for row in table(cli(spin, "job", "show", waiting)[1])}[
        "result"
    ] == "kept once it ends"
    code, shown = cli_json(spin, "job", "show", job)
    assert (shown["result_state"], shown["result"], shown["progress"]) == (
        "succeeded",
        {"answer": 42},
        0.5,
    )


def test_job_show_of_a_workflow_step_lists_the_steps(spin: Engine, app: App) -> None:
    flow = spin.schedule_workflow(Chain(Step("ok", 1), Step("ok")))  # the second gets None
    code, text = cli(spin, "job", "show", flow.jobs[1].job_id)
    assert code == 0
    head, _, steps = text.partition(f"\n\nworkflow {flow.id}:\n")
    assert {row[0]: row[1] for row in table(head)}["workflow"] == flow.id
    rows = table(steps)
    assert rows[0] == ["STEP", "TASK", "STATUS", "WAITING FOR"]
    assert [row[:3] for row in rows[1:]] == [
        [flow.jobs[0].job_id, "ok", "queued"],
        [flow.jobs[1].job_id, "ok", "waiting"],
    ]


def test_job_show_tells_when_the_cancel_of_a_running_job_was_asked(spin: Engine, app: App) -> None:
    job = spin.schedule("answer", 7)
    spin.broker.check_schema(job.queue)
    spin.broker.fetch(job.queue, 1, 30_000, worker_id="a-worker")  # a worker holds it now
    assert cli(spin, "job", "cancel", job.job_id)[0] == 0
    code, text = cli(spin, "job", "show", job.job_id)
    fields = {row[0]: " ".join(row[1:]) for row in table(text)}
    assert code == 0 and fields["status"] == "running" and fields["cancel asked"]
    code, shown = cli_json(spin, "job", "show", job.job_id)
    assert shown["cancel_requested_at"] is not None
