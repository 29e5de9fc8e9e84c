"""The fault-injection harness: worker processes, their ledger, and the checks on it."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from spinach import Engine

pytestmark = pytest.mark.redis

APP = Path(__file__).with_name("fault_app.py")
NAMESPACE = "faults"


class Worker:
    """One spinach worker process running fault_app.py."""

    def __init__(self, url: str, log_dir: Path, index: int, **env: str) -> None:
        self.log_path = log_dir / f"worker-{index}.log"
        environment = {**os.environ, "REDIS_URL": url, "NAMESPACE": NAMESPACE, **env}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(APP)], env=environment, stdout=log, stderr=subprocess.STDOUT
            )

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class Fleet:
    """The worker processes of one test; all are stopped at the end."""

    def __init__(self, url: str, log_dir: Path) -> None:
        self.url = url
        self.log_dir = log_dir
        self.workers: list[Worker] = []

    def start(self, **env: str) -> Worker:
        worker = Worker(self.url, self.log_dir, len(self.workers), **env)
        self.workers.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()

    def logs(self) -> str:
        return "\n".join(w.log() for w in self.workers)


class Ledger:
    """What the tasks of the worker processes recorded."""

    def __init__(self, client: "redis.Redis") -> None:
        self.events: list[tuple[str, str, str, int]] = []
        for raw in client.smembers("ledger"):
            event, task, key, pid, _ = raw.decode().split(":")
            self.events.append((event, task, key, int(pid)))

    def count(self, event: str, task: str) -> Counter[str]:
        return Counter(k for e, t, k, _ in self.events if e == event and t == task)

    def check(self, again_keys: set[str], once_keys: set[str]) -> dict[str, int]:
        """Assert the delivery guarantees; return figures for the report."""
        ended_again = self.count("end", "again")
        started_once = self.count("start", "once")
        ended_once = self.count("end", "once")
        failed_once = self.count("failed", "once")
        lost = [k for k in again_keys if ended_again[k] == 0]
        assert not lost, f"at-least-once jobs never completed: {sorted(lost)[:10]}"
        twice = [k for k in once_keys if started_once[k] > 1]
        assert not twice, f"at-most-once jobs started twice: {sorted(twice)[:10]}"
        unaccounted = [k for k in once_keys if not ended_once[k] and not failed_once[k]]
        assert not unaccounted, (
            f"at-most-once jobs neither done nor reported: {unaccounted[:10]}, their events: "
            f"{[e for e in self.events if e[2] in unaccounted[:10]]}"
        )
        started_again = self.count("start", "again")
        return {
            "again_jobs": len(again_keys),
            "again_reruns": sum(started_again[k] for k in again_keys) - len(again_keys),
            "once_jobs": len(once_keys),
            "once_completed": sum(1 for k in once_keys if ended_once[k]),
            "once_reported_failed": sum(
                1 for k in once_keys if failed_once[k] and not ended_once[k]
            ),
        }


def wait_until(  # type: ignore[no-untyped-def]
    predicate, timeout: float, what: str, interval: float = 0.05, diagnose=None
) -> None:
    """Wait for `predicate` with a deadline; on failure, say what `diagnose()` returns."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            details = f"\n{diagnose()}" if diagnose else ""
            pytest.fail(f"timed out after {timeout}s waiting for {what}{details}")
        time.sleep(interval)


def drained(spin: Engine) -> bool:
    stats = spin.broker.queue_stats("spinach")
    return stats.ready == stats.delayed == stats.running == 0
