"""A worker started while Redis is down waits for it; one Redis refuses at once says why."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from faults.harness import NAMESPACE, Ledger, wait_until
from redis_server import RedisServer

from spinach import Engine, RedisBroker, Tasks
from spinach.keys import queue_keys

pytestmark = pytest.mark.redis

HERE = Path(__file__).parent


def _worker_command(url: str, log: Path) -> "subprocess.Popen[bytes]":
    """`spinach-worker fault_app:spin` as an operator starts it, its output in `log`."""
    env = {**os.environ, "REDIS_URL": url, "NAMESPACE": NAMESPACE, "REDIS_MAY_BE_DOWN": "1"}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "spinach_worker.cli", "fault_app:spin", "--threads", "2"],
            cwd=HERE, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _stop(process: "subprocess.Popen[bytes]") -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_worker_started_while_redis_is_down_waits_and_starts_when_it_answers(
    tmp_path: Path,
) -> None:
    server = RedisServer()  # its port is chosen, nothing listens on it yet
    log = tmp_path / "worker.log"
    worker = _worker_command(server.url, log)
    try:
        wait_until(
            lambda: log.read_text().count("Could not start the workers") >= 3,
            30,
            "three logged attempts to reach Redis",
            diagnose=log.read_text,
        )
        assert worker.poll() is None, log.read_text()
        text = log.read_text()
        assert "Traceback" not in text
        assert "WARNING" in text and "retrying in" in text

        server.start()
        spin = Engine(RedisBroker.from_url(server.url), namespace=NAMESPACE)
        tasks = Tasks()
        tasks.add(lambda key, ms=0: None, name="again", max_retries=1000)
        spin.attach_tasks(tasks)
        spin.schedule("again", "after-outage")
        client = server.client()
        wait_until(
            lambda: Ledger(client).count("end", "again")["after-outage"] == 1,
            30,
            "the job sent once Redis was up to run",
            diagnose=log.read_text,
        )
        assert len(spin.broker.live_workers("spinach")) == 1
    finally:
        _stop(worker)
        server.cleanup()
    assert "Traceback" not in log.read_text()


def test_a_wrong_password_stops_the_worker_at_once_with_a_one_line_reason(
    tmp_path: Path,
) -> None:
    server = RedisServer(["--requirepass", "the-right-one"])
    server.client_options = {"password": "the-right-one"}
    server.start()
    log = tmp_path / "worker.log"
    try:
        worker = _worker_command(f"redis://:not-it@127.0.0.1:{server.port}/0", log)
        try:
            assert worker.wait(30) == 1
        finally:
            _stop(worker)
    finally:
        server.cleanup()
    text = log.read_text()
    errors = [line for line in text.splitlines() if " ERROR " in line]
    assert len(errors) == 1, text
    assert "refused" in errors[0] and "password" in errors[0]
    assert "Traceback" not in text and "not-it" not in text


def test_data_of_another_schema_stops_the_worker_at_once_with_a_one_line_reason(
    server: RedisServer, tmp_path: Path
) -> None:
    server.client().set(queue_keys(NAMESPACE, "spinach").schema, "999")
    log = tmp_path / "worker.log"
    worker = _worker_command(server.url, log)
    try:
        assert worker.wait(30) == 1
    finally:
        _stop(worker)
    text = log.read_text()
    errors = [line for line in text.splitlines() if " ERROR " in line]
    assert len(errors) == 1, text
    assert "schema 999" in errors[0]
    assert "Traceback" not in text
