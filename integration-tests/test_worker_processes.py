"""spinach-worker --processes N: a supervisor, its children, one health endpoint, /metrics."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_for
from redis_server import RedisServer

from spinach import Batch, Engine, RedisBroker, Tasks

pytestmark = pytest.mark.redis

APP = """
import multiprocessing
import os
import time

import redis
from spinach import Engine, RedisBroker, Tasks

if os.environ.get("BROKEN_IN_CHILDREN") and multiprocessing.parent_process() is not None:
    raise RuntimeError("no database reachable from the workers")

client = redis.Redis.from_url(os.environ["TEST_REDIS_URL"])
if os.environ.get("HOLD_IMPORT") and multiprocessing.parent_process() is not None:
    while not client.exists("go"):  # a slow import, until the test says go
        time.sleep(0.01)
tasks = Tasks()

@tasks.task(name="record")
def record(i):
    time.sleep(0.005)
    client.rpush("ledger", f"{i}:{os.getpid()}")

@tasks.task(name="hold")
def hold(i):
    client.rpush("holding", os.getpid())
    while not client.exists("sigterm-sent"):
        time.sleep(0.01)
    client.rpush("ledger", f"{i}:{os.getpid()}")

@tasks.task(name="boom")
def boom():
    raise ValueError("boom")

@tasks.task(name="flaky", max_retries=1)
def flaky(key):
    if client.incr(key) == 1:
        raise ValueError("first time")

spin = Engine(RedisBroker.from_url(os.environ["TEST_REDIS_URL"]), namespace="procs")
spin.attach_tasks(tasks)
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "procapp.py").write_text(textwrap.dedent(APP))
    return tmp_path


def _client(url: str) -> Engine:
    spin = Engine(RedisBroker.from_url(url), namespace="procs")
    tasks = Tasks()
    tasks.add(lambda i: None, name="record")
    tasks.add(lambda i: None, name="hold")
    tasks.add(lambda: None, name="boom")
    tasks.add(lambda key: None, name="flaky", max_retries=1)
    spin.attach_tasks(tasks)
    return spin


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(app_dir: Path, url: str, *args: str, **env: str) -> "subprocess.Popen[bytes]":
    return subprocess.Popen(
        [sys.executable, "-m", "spinach_worker.cli", "procapp:spin", *args],
        cwd=app_dir, env={**os.environ, "TEST_REDIS_URL": url, **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:  # not listening yet
        return 0, str(e)


def _json(port: int, path: str) -> dict[str, Any]:
    status, body = _get(port, path)
    return {"status": status, **(json.loads(body) if status in (200, 503) else {})}


def _stop(process: "subprocess.Popen[bytes]", timeout: float = 60) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.communicate(timeout=timeout)[0].decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_processes_share_the_queue_answer_one_health_endpoint_and_stop_on_sigterm(
    redis_server: RedisServer, app_dir: Path
) -> None:
    client = redis_server.client()
    client.flushall()
    spin = _client(redis_server.url)
    batch = Batch()
    for i in range(300):
        batch.schedule("record", i)
    spin.schedule_batch(batch)
    port = _free_port()
    supervisor = _start(
        app_dir, redis_server.url, "--processes", "2", "--threads", "2",
        "--health-port", str(port), "--health-host", "127.0.0.1",
    )  # fmt: skip
    try:
        wait_for(lambda: client.llen("ledger") == 300, 60, "every job to run")
        pids = {bytes(e).decode().split(":")[1] for e in client.lrange("ledger", 0, -1)}
        assert len(pids) == 2 and str(supervisor.pid) not in pids  # the children ran them

        wait_for(lambda: _json(port, "/readyz")["status"] == 200, 20, "the supervisor ready")
        ready = _json(port, "/readyz")
        assert [p["redis"] for p in ready["processes"]] == ["ok", "ok"]
        assert {str(p["pid"]) for p in ready["processes"]} == pids
        live = _json(port, "/livez")
        assert live["status"] == 200 and len(live["processes"]) == 2
        assert _get(port, "/metrics")[0] == 404  # off unless --metrics

        # A job running when SIGTERM comes finishes; then every child and the supervisor exit 0.
        spin.schedule("hold", 999)
        wait_for(lambda: client.llen("holding") == 1, 20, "the held job to start")
        supervisor.send_signal(signal.SIGTERM)
        wait_for(lambda: _json(port, "/readyz")["status"] in (0, 503), 20, "not ready")
        client.set("sigterm-sent", 1)
        output = supervisor.communicate(timeout=60)[0].decode()
    finally:
        _stop(supervisor)
    assert supervisor.returncode == 0, output
    assert b"999:" in client.lindex("ledger", -1)  # type: ignore[operator]
    assert output.count("Received SIGTERM: stopping gracefully") == 2  # one per child, once
    assert "Second stop signal" not in output
    assert spin.broker.queue_stats("spinach").running == 0


def test_children_still_importing_the_app_are_alive_but_not_ready(
    redis_server: RedisServer, app_dir: Path
) -> None:
    client = redis_server.client()
    client.flushall()
    port = _free_port()
    supervisor = _start(
        app_dir, redis_server.url, "--processes", "2", "--health-port", str(port),
        "--health-host", "127.0.0.1", HOLD_IMPORT="1",
    )  # fmt: skip
    try:

        def starting() -> bool:
            live = _json(port, "/livez")
            return [p.get("state") for p in live.get("processes", [])] == ["starting"] * 2

        wait_for(starting, 30, "both children to answer while they import")
        assert _json(port, "/livez")["status"] == 200
        assert _json(port, "/readyz")["status"] == 503
        client.set("go", 1)
        wait_for(lambda: _json(port, "/readyz")["status"] == 200, 30, "both children ready")
    finally:
        output = _stop(supervisor)
    assert supervisor.returncode == 0, output


def test_zero_processes_is_refused(app_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "spinach_worker.cli", "procapp:spin", "--processes", "0"],
        cwd=app_dir, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--threads and --processes must be at least 1" in result.stderr


@pytest.mark.timeout(150)
def test_children_that_keep_dying_at_start_make_the_supervisor_exit_1(
    redis_server: RedisServer, app_dir: Path
) -> None:
    supervisor = _start(app_dir, redis_server.url, "--processes", "2", BROKEN_IN_CHILDREN="1")
    try:
        output = supervisor.communicate(timeout=140)[0].decode()
    finally:
        _stop(supervisor)
    assert supervisor.returncode == 1, output
    assert "RuntimeError: no database reachable from the workers" in output  # the child's why
    assert "exited with code 2 after" in output and "restarting it in" in output
    assert "keep dying right after they start (5 times in a row)" in output
    assert output.count("Started worker process") <= 2 * 5  # restarts stopped: no storm


def test_a_supervisor_killed_hard_leaves_no_orphan_worker_behind(
    redis_server: RedisServer, app_dir: Path
) -> None:
    port = _free_port()
    supervisor = _start(
        app_dir, redis_server.url, "--processes", "2", "--threads", "1",
        "--health-port", str(port), "--health-host", "127.0.0.1",
    )  # fmt: skip
    try:
        wait_for(lambda: _json(port, "/readyz")["status"] == 200, 30, "the supervisor ready")
        children = [p["pid"] for p in _json(port, "/readyz")["processes"]]
        supervisor.kill()
        supervisor.communicate(timeout=10)

        def gone(pid: int) -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            # A zombie waits for init to reap it: it runs no job any more.
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().split(") ", 1)[1].startswith("Z")

        wait_for(lambda: all(gone(pid) for pid in children), 30, "the children to stop")
    finally:
        _stop(supervisor)


def test_metrics_of_every_process_add_up_on_the_supervisors_port(
    redis_server: RedisServer, app_dir: Path
) -> None:
    client = redis_server.client()
    client.flushall()
    spin = _client(redis_server.url)
    for i in range(40):
        spin.schedule("record", i)
    spin.schedule("boom")
    spin.schedule("flaky", "flaky-1")
    port = _free_port()
    supervisor = _start(
        app_dir, redis_server.url, "--processes", "2", "--threads", "2", "--metrics",
        "--health-port", str(port), "--health-host", "127.0.0.1",
    )  # fmt: skip
    try:
        wait_for(lambda: client.llen("ledger") == 40, 60, "the record jobs")
        wait_for(lambda: spin.broker.queue_stats("spinach").delayed == 0, 30, "the retry")

        def metrics() -> str:
            status, body = _get(port, "/metrics")
            return body if status == 200 else ""

        succeeded = 'spinach_jobs_total{outcome="succeeded",queue="spinach",task="record"} 40.0'
        wait_for(lambda: succeeded in metrics(), 30, "40 record jobs counted")
        flaky = 'spinach_jobs_total{outcome="succeeded",queue="spinach",task="flaky"} 1.0'
        wait_for(lambda: flaky in metrics(), 30, "the flaky job's second run counted")
        page = metrics()
        assert 'spinach_jobs_total{outcome="failed",queue="spinach",task="boom"} 1.0' in page
        assert 'spinach_jobs_total{outcome="retried",queue="spinach",task="flaky"} 1.0' in page
        assert 'spinach_job_duration_seconds_count{queue="spinach",task="record"} 40.0' in page
        assert 'spinach_queue_jobs{namespace="procs",queue="spinach",state="ready"} 0.0' in page
        assert "spinach_queue_oldest_ready_age_seconds" in page
    finally:
        output = _stop(supervisor)
    assert supervisor.returncode == 0, output


def test_metrics_on_one_process_count_by_task_and_outcome(
    redis_server: RedisServer, app_dir: Path
) -> None:
    client = redis_server.client()
    client.flushall()
    spin = _client(redis_server.url)
    for i in range(5):
        spin.schedule("record", i)
    spin.schedule("boom")
    port = _free_port()
    worker = _start(
        app_dir, redis_server.url, "--metrics", "--health-port", str(port),
        "--health-host", "127.0.0.1",
    )  # fmt: skip
    try:
        wait_for(lambda: client.llen("ledger") == 5, 30, "the record jobs")
        wanted = 'spinach_jobs_total{outcome="succeeded",queue="spinach",task="record"} 5.0'
        wait_for(lambda: wanted in _get(port, "/metrics")[1], 30, "the jobs counted")
        page = _get(port, "/metrics")[1]
        assert 'spinach_jobs_total{outcome="failed",queue="spinach",task="boom"} 1.0' in page
        assert "process_resident_memory_bytes" in page  # the default registry's collectors
        assert _json(port, "/livez")["status"] == 200
    finally:
        output = _stop(worker)
    assert worker.returncode == 0, output


def test_metrics_without_the_extra_installed_name_the_extra(
    redis_server: RedisServer, app_dir: Path
) -> None:
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "from spinach_worker.cli import main\n"
        "sys.exit(main(['procapp:spin', '--metrics', '--health-port', '0']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=app_dir, capture_output=True, text=True, timeout=30,
        env={**os.environ, "TEST_REDIS_URL": redis_server.url},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "pip install 'spinach-worker[prometheus]'" in result.stderr
