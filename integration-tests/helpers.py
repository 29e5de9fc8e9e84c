"""Helpers for integration tests: waiting on conditions with deadlines, and a job ledger."""

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redis_server import INSTALL_HINT, RedisServer


def job_records(client: Any, namespace: str, queue: str = "spinach") -> list[str]:
    """Ids of the jobs of a queue that have a record."""
    from spinach.keys import queue_keys

    found = client.hkeys(queue_keys(namespace, queue).jobs)
    return sorted(key.decode() if isinstance(key, bytes) else key for key in found)


def corrupt_envelope(client: Any, namespace: str, job_id: str, garbage: bytes) -> None:
    """Replace the envelope in a job's record by `garbage`, keeping the rest of the record."""
    from spinach.keys import queue_keys

    key = queue_keys(namespace, "spinach").jobs
    state = client.hget(key, job_id).partition(b"\x01")[0]
    client.hset(key, job_id, state + b"\x01" + garbage)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, message: str = "") -> None:
    """Wait until `predicate()` is true, failing the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(0.005)


class Overlap:
    """Counts how many runs of a task overlap, at most (use it as a context manager)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def __enter__(self) -> None:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.running -= 1


class Ledger:
    """A thread-safe record of what tasks did, with waits on it."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.entries: list[Any] = []

    def add(self, entry: Any) -> None:
        with self._lock:
            self.entries.append(entry)
            self._lock.notify_all()

    def wait_for_count(self, count: int, timeout: float = 10.0) -> list[Any]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.entries) >= count, timeout):
                pytest.fail(f"Expected {count} entries within {timeout}s, got {self.entries!r}")
            return list(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


@contextlib.contextmanager
def throwaway_redis_server(attempts: int = 1) -> Iterator[RedisServer]:
    """A started redis-server on a free loopback port, removed afterwards.

    Without redis-server installed the test is skipped, or fails on CI where it must run.
    """
    try:
        server = RedisServer()
    except RuntimeError:
        if os.environ.get("CI"):
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    try:
        server.start(attempts=attempts)
        yield server
    finally:
        server.cleanup()


class PrintedLines:
    """The lines a child process prints, read on a thread, waited for with deadlines."""

    def __init__(self, process: "subprocess.Popen[str]") -> None:
        self.seen: list[str] = []
        self._process = process
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Once the process ended: read the rest, close the pipe."""
        self._thread.join(timeout=10)
        assert self._process.stdout is not None
        self._process.stdout.close()

    def _read(self, process: "subprocess.Popen[str]") -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._ready:
                self.seen.append(line.rstrip("\n"))
                self._ready.notify_all()

    def wait_for(self, start: str, timeout: float = 30.0) -> str:
        with self._ready:
            found = self._ready.wait_for(
                lambda: any(line.startswith(start) for line in self.seen), timeout
            )
            assert found, f"no line starting with {start!r} in {self.seen!r}"
            return next(line for line in self.seen if line.startswith(start))
