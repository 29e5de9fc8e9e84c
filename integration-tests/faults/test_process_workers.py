"""A worker process of a supervisor killed under load: replaced, and nothing lost or run twice.

Run with -s to see the figures.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from faults.harness import APP, Ledger, drained, wait_until
from redis_server import RedisServer

from spinach import Batch, Engine

pytestmark = pytest.mark.redis

LAUNCH = """
import logging, sys
from spinach_worker import ChildOptions, Supervisor
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(processName)s %(message)s")
options = ChildOptions(engine="fault_app:spin", threads=4, queue="spinach", lease_seconds=1.0,
                       shutdown_timeout=10.0)
sys.exit(Supervisor(options, 2, health_port=int(sys.argv[1]), health_host="127.0.0.1").run())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _readyz(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as response:
            return dict(json.loads(response.read()))
    except OSError:  # not listening yet, or 503 while a child restarts
        return {"ok": False, "processes": []}


@pytest.mark.timeout(180)
def test_a_killed_child_is_replaced_and_its_jobs_recover_with_nothing_lost_or_run_twice(
    server: RedisServer, client_engine: Engine, tmp_path: Path
) -> None:
    client = server.client()
    batch = Batch()
    again_keys = {f"a{i}" for i in range(600)}
    once_keys = {f"o{i}" for i in range(300)}
    for i in range(600):
        batch.schedule("again", f"a{i}", 20)
        if i < 300:
            batch.schedule("once", f"o{i}", 20)
    client_engine.schedule_batch(batch)

    port = _free_port()
    log = tmp_path / "supervisor.log"
    with open(log, "wb") as out:
        supervisor = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, str(port)], cwd=APP.parent,
            env={**os.environ, "REDIS_URL": server.url, "NAMESPACE": "faults"},
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        # Given two worker processes busy with the jobs
        wait_until(lambda: _readyz(port)["ok"], 60, "both children ready", diagnose=log.read_text)
        wait_until(lambda: client.scard("ledger") >= 100, 60, "jobs under way")
        before = {p["slot"]: p["pid"] for p in _readyz(port)["processes"]}

        # When one of them is killed in the middle of its jobs
        os.kill(before[1], signal.SIGKILL)
        killed_at = time.monotonic()

        # Then the supervisor starts a replacement in its slot...
        def replaced() -> bool:
            now = {p["slot"]: p.get("pid") for p in _readyz(port)["processes"]}
            return now.get(1) not in (None, before[1]) and now.get(0) == before[0]

        wait_until(replaced, 60, "a replacement child", diagnose=log.read_text)
        replaced_after = time.monotonic() - killed_at
        # ...and every job ran, or was reported failed for the at-most-once ones it held
        wait_until(lambda: drained(client_engine), 90, "the queue to drain", diagnose=log.read_text)
        figures = Ledger(client).check(again_keys, once_keys)
        # The kill did land in the middle of jobs: some ran again, or were reported failed.
        assert figures["again_reruns"] + figures["once_reported_failed"] >= 1, figures
        killed_pid = str(before[1])
        assert any(pid == int(killed_pid) for _, _, _, pid in Ledger(client).events)
    finally:
        if supervisor.poll() is None:
            supervisor.send_signal(signal.SIGTERM)
        try:
            supervisor.wait(60)
        except subprocess.TimeoutExpired:
            supervisor.kill()
            supervisor.wait()
    output = log.read_text()
    assert supervisor.returncode == 0, output
    assert f"Worker process 1 (pid {killed_pid}) was killed by SIGKILL" in output
    assert output.count("Started worker process 1 ") == 2
    print(f"\nprocess workers: {figures}, child replaced {replaced_after:.1f}s after the kill")
