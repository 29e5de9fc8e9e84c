"""A rate limit holds across worker processes: over 10 s at 50/s, 495 to 505 jobs start."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import wait_for
from redis_server import RedisServer

from spinach import Batch, Engine, RedisBroker, Tasks

pytestmark = pytest.mark.redis

APP = """
import os
import time

import redis
from spinach import Engine, RedisBroker, Tasks

client = redis.Redis.from_url(os.environ["TEST_REDIS_URL"])
client.ping()  # connected before the first job: its start is not later than the others'
tasks = Tasks()

@tasks.task(name="paced", rate_limit="50/s")
def paced(i):
    client.rpush("starts", f"{time.time()!r}:{os.getpid()}")

spin = Engine(RedisBroker.from_url(os.environ["TEST_REDIS_URL"]), namespace="paced")
spin.attach_tasks(tasks)
"""


def _worker(app_dir: Path, url: str) -> "subprocess.Popen[bytes]":
    return subprocess.Popen(
        [sys.executable, "-m", "spinach_worker.cli", "pacedapp:spin", "--threads", "4"],
        cwd=app_dir, env={**os.environ, "TEST_REDIS_URL": url},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def test_fifty_a_second_over_ten_seconds_across_three_processes(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    (tmp_path / "pacedapp.py").write_text(textwrap.dedent(APP))
    client = redis_server.client()
    client.delete("starts")
    spin = Engine(RedisBroker.from_url(redis_server.url), namespace="paced")
    tasks = Tasks()
    tasks.add(lambda i: None, name="paced", rate_limit="50/s")
    spin.attach_tasks(tasks)
    workers = [_worker(tmp_path, redis_server.url) for _ in range(3)]
    try:
        wait_for(lambda: len(spin.broker.live_workers("spinach")) == 3, timeout=30,
                 message="three live workers")  # fmt: skip
        batch = Batch()
        for i in range(800):
            batch.schedule("paced", i)
        spin.schedule_batch(batch)
        wait_for(lambda: client.llen("starts") >= 560, timeout=60, message="11 s of starts")
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    entries = [entry.decode().split(":") for entry in client.lrange("starts", 0, -1)]
    starts = sorted(float(at) for at, _ in entries)
    first = starts[0]
    in_ten_seconds = sum(1 for at in starts if at < first + 10.0)
    assert 495 <= in_ten_seconds <= 505, in_ten_seconds
    assert len({pid for _, pid in entries}) == 3  # every process took its share
    spin.broker.close()
