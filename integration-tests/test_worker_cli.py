"""The spinach-worker command: runs an Engine from the user's code and stops cleanly on SIGTERM."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from redis_server import RedisServer

from spinach import Batch, Engine, RedisBroker, Tasks

pytestmark = pytest.mark.redis

APP = """
import os
import threading
import redis
from spinach import Engine, RedisBroker, Tasks

client = redis.Redis.from_url(os.environ["TEST_REDIS_URL"])
release = threading.Event()
tasks = Tasks()

@tasks.task(name="record")
def record(i):
    client.rpush("ledger", i)

@tasks.task(name="hold")
def hold(i):
    client.rpush("holding", i)
    # Wait until the test has sent SIGTERM, then finish normally.
    while not client.exists("sigterm-sent"):
        release.wait(0.01)
    client.rpush("ledger", i)

spin = Engine(RedisBroker.from_url(os.environ["TEST_REDIS_URL"]), namespace="cli")
spin.attach_tasks(tasks)
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "shopapp.py").write_text(textwrap.dedent(APP))
    return tmp_path


def _client_engine(url: str) -> Engine:
    spin = Engine(RedisBroker.from_url(url), namespace="cli")
    tasks = Tasks()
    tasks.add(lambda i: None, name="record")
    tasks.add(lambda i: None, name="hold")
    spin.attach_tasks(tasks)
    return spin


def _start_worker(app_dir: Path, url: str, *args: str) -> "subprocess.Popen[bytes]":
    env = {**os.environ, "TEST_REDIS_URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "spinach_worker.cli", "shopapp:spin", *args],
        cwd=app_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _wait(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_worker_command_runs_jobs_and_exits_0_on_sigterm_after_finishing_them(
    redis_server: RedisServer, app_dir: Path
) -> None:
    client = redis_server.client()
    client.flushall()
    spin = _client_engine(redis_server.url)
    batch = Batch()
    for i in range(50):
        batch.schedule("record", i)
    spin.schedule_batch(batch)
    spin.schedule("hold", 99)
    for i in range(100, 110):
        spin.schedule("record", i)

    worker = _start_worker(app_dir, redis_server.url, "--threads", "4")
    try:
        _wait(lambda: client.llen("holding") == 1)
        worker.send_signal(signal.SIGTERM)
        client.set("sigterm-sent", 1)
        output = worker.communicate(timeout=30)[0].decode()
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, output
    done = {int(x) for x in client.lrange("ledger", 0, -1)}
    assert 99 in done  # the running job was allowed to finish
    stats = spin.broker.queue_stats("spinach")
    assert stats.running == 0
    assert len(done) + stats.ready == 61  # every other job ran or waits in the queue


def test_the_worker_command_stops_when_the_queue_is_empty(
    redis_server: RedisServer, app_dir: Path
) -> None:
    client = redis_server.client()
    client.flushall()
    spin = _client_engine(redis_server.url)
    for i in range(20):
        spin.schedule("record", i)
    worker = _start_worker(app_dir, redis_server.url, "--threads", "2", "--stop-when-queue-empty")
    output = worker.communicate(timeout=30)[0].decode()
    assert worker.returncode == 0, output
    assert sorted(int(x) for x in client.lrange("ledger", 0, -1)) == list(range(20))


@pytest.mark.parametrize(
    "target", ["shopapp:nope", "shopapp:client", "missing_module:spin", "shopapp"]
)
def test_the_worker_command_exits_2_when_the_engine_cannot_be_loaded(
    redis_server: RedisServer, app_dir: Path, target: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "spinach_worker.cli", target],
        cwd=app_dir, env={**os.environ, "TEST_REDIS_URL": redis_server.url},
        capture_output=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert b"Cannot load" in result.stderr


def test_a_second_sigterm_exits_at_once(redis_server: RedisServer, app_dir: Path) -> None:
    client = redis_server.client()
    client.flushall()
    spin = _client_engine(redis_server.url)
    spin.schedule("hold", 1)  # runs until the test says so, which it never does here
    worker = _start_worker(app_dir, redis_server.url, "--threads", "1", "--shutdown-timeout", "60")
    try:
        _wait(lambda: client.llen("holding") == 1)
        worker.send_signal(signal.SIGTERM)
        time.sleep(0.2)  # let the first signal be handled before the second one
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=10)[0].decode()
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 1, output
    assert "Second stop signal" in output


def test_the_check_command_tells_whether_a_worker_is_alive(
    redis_server: RedisServer, app_dir: Path
) -> None:
    redis_server.client().flushall()  # no registration left by the workers of other tests
    env = {**os.environ, "TEST_REDIS_URL": redis_server.url}
    command = [sys.executable, "-m", "spinach_worker.cli", "check", "shopapp:spin"]
    idle = subprocess.run(command, cwd=app_dir, env=env, capture_output=True, timeout=30)
    assert idle.returncode == 1, idle.stdout

    worker = _start_worker(app_dir, redis_server.url, "--threads", "1")
    try:
        _wait(lambda: subprocess.run(command, cwd=app_dir, env=env, timeout=30).returncode == 0)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    after = subprocess.run(command, cwd=app_dir, env=env, capture_output=True, timeout=30)
    assert after.returncode == 1 and b"0 live worker" in after.stdout


def test_an_engine_module_that_raises_on_import_shows_its_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "__init__.py").write_text("")
    (tmp_path / "broken" / "tasks.py").write_text("import os\n\nratio = 1 / 0\n")
    result = subprocess.run(
        [sys.executable, "-m", "spinach_worker.cli", "broken.tasks:spin"],
        cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Cannot load broken.tasks:spin: division by zero" in result.stderr
    # The traceback of the user's code, without the import machinery's frames.
    assert "Traceback (most recent call last):" in result.stderr
    assert 'tasks.py", line 3, in <module>' in result.stderr
    assert "ratio = 1 / 0" in result.stderr
    assert "ZeroDivisionError: division by zero" in result.stderr
    assert "importlib" not in result.stderr


def test_a_missing_engine_module_gets_one_line_and_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "spinach_worker.cli", "nowhere.tasks:spin"],
        cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Cannot load nowhere.tasks:spin: No module named 'nowhere'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_worker_command_tells_its_version() -> None:
    from importlib import metadata

    result = subprocess.run(
        [sys.executable, "-m", "spinach_worker.cli", "--version"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0
    assert result.stdout.startswith(f"spinach-worker {metadata.version('spinach-worker')} (")
    assert f"spinach-client {metadata.version('spinach-client')}" in result.stdout


def test_a_queue_that_no_attached_task_uses_gets_a_warning(
    redis_server: RedisServer, app_dir: Path
) -> None:
    def run(queue: str) -> str:
        worker = _start_worker(
            app_dir, redis_server.url, "--queue", queue, "--stop-when-queue-empty"
        )
        output = worker.communicate(timeout=30)[0].decode()
        assert worker.returncode == 0, output
        return output

    warned = run("emails")
    assert "No task attached to the engine uses queue 'emails' (its tasks use: spinach)" in warned
    assert "No task attached" not in run("spinach")


SEVERAL_QUEUES_APP = """
import os
import redis
from spinach import Engine, RedisBroker, Tasks

client = redis.Redis.from_url(os.environ["TEST_REDIS_URL"])
tasks = Tasks()

@tasks.task(name="urgent", queue="urgent")
def urgent(i):
    client.rpush("ledger", f"urgent-{i}")

@tasks.task(name="record")
def record(i):
    client.rpush("ledger", f"spinach-{i}")

spin = Engine(RedisBroker.from_url(os.environ["TEST_REDIS_URL"]), namespace="cli-several")
spin.attach_tasks(tasks)
"""


@pytest.mark.parametrize("processes", ["1", "2"])
def test_the_worker_command_consumes_every_queue_given_in_order(
    redis_server: RedisServer, tmp_path: Path, processes: str
) -> None:
    (tmp_path / "shopapp.py").write_text(textwrap.dedent(SEVERAL_QUEUES_APP))
    client = redis_server.client()
    client.flushall()
    spin = Engine(RedisBroker.from_url(redis_server.url), namespace="cli-several")
    tasks = Tasks()
    tasks.add(lambda i: None, name="urgent", queue="urgent")
    tasks.add(lambda i: None, name="record")
    spin.attach_tasks(tasks)
    for i in range(10):
        spin.schedule("record", i)
        spin.schedule("urgent", i)
    worker = _start_worker(
        tmp_path, redis_server.url, "--queue", "urgent", "--queue", "spinach",
        "--threads", "1", "--processes", processes, "--stop-when-queue-empty",
    )  # fmt: skip
    output = worker.communicate(timeout=60)[0].decode()
    assert worker.returncode == 0, output
    done = [x.decode() for x in client.lrange("ledger", 0, -1)]
    assert sorted(done) == sorted([f"{q}-{i}" for q in ("urgent", "spinach") for i in range(10)])
    if processes == "1":  # one worker: strict order, every urgent job first
        assert done[:10] == [f"urgent-{i}" for i in range(10)]
    assert "No task attached" not in output


@pytest.mark.parametrize(
    ("queues", "message"),
    [
        (["a:2", "b"], "every queue a weight"),
        (["a:0", "b:1"], "whole number >= 1"),
        (["a", "a"], "named twice"),
        (["a", "{b}"], "braces"),
    ],
)
def test_the_worker_command_exits_2_on_a_malformed_queue(
    tmp_path: Path, queues: list[str], message: str
) -> None:
    args = [arg for queue in queues for arg in ("--queue", queue)]
    result = subprocess.run(
        [sys.executable, "-m", "spinach_worker.cli", "nowhere:spin", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--queue: " in result.stderr and message in result.stderr
    assert "Cannot load" not in result.stderr  # refused before importing the application
