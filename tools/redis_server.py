"""Throwaway redis-server processes on free loopback ports, for tests and benchmarks.

Each server has its own temporary directory, so fault tests can kill, restart and reconfigure
it without touching any other Redis on the machine.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence

import redis

INSTALL_HINT = (
    "redis-server is not installed: install it with `sudo apt-get install redis-server` "
    "(Debian/Ubuntu) or `brew install redis` (macOS)"
)


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server bound to 127.0.0.1, started and stopped by the tests."""

    def __init__(self, extra_args: Sequence[str] = ()) -> None:
        self.executable = shutil.which("redis-server")
        if self.executable is None:
            raise RuntimeError(INSTALL_HINT)
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="spinach-redis-")
        self.extra_args = list(extra_args)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port)

    def start(self, timeout: float = 10.0) -> None:
        args = [
            self.executable or "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", self.directory,
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
            *self.extra_args,
        ]  # fmt: skip
        log_path = os.path.join(self.directory, "redis.log")
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        client = self.client()
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start; see {log_path}") from None
                time.sleep(0.02)
            finally:
                client.close()

    def crash(self) -> None:
        """Kill the server with SIGKILL, as a power loss would: only what is on disk survives."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
