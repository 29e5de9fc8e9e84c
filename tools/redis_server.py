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
from typing import Any

import redis

INSTALL_HINT = (
    "redis-server is not installed: install it with `sudo apt-get install redis-server` "
    "(Debian/Ubuntu) or `brew install redis` (macOS)"
)

#: The port of a Redis that may already run on the machine: never handed out.
SHARED_REDIS_PORT = 6379


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now (never the shared instance's)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != SHARED_REDIS_PORT:
            return port


class RedisServer:
    """One redis-server bound to 127.0.0.1, started and stopped by the tests or the benchmark."""

    def __init__(self, extra_args: Sequence[str] = ()) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError(INSTALL_HINT)
        self.executable = executable
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="spinach-redis-")
        self.extra_args = list(extra_args)
        #: A config file to start from (Sentinel needs one it can rewrite).
        self.config_file: str | None = None
        #: Extra options for the clients of this server (TLS settings, a password).
        self.client_options: dict[str, Any] = {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, **self.client_options)

    def start(self, timeout: float = 10.0, attempts: int = 1) -> None:
        """Start the server and wait until it answers PING; stop it if it does not.

        With `attempts` above 1, a server that does not come up is tried again on another free
        port, as another process may take the port between free_port() and the bind. Only for a
        first start: a restart must keep its port.
        """
        for attempt in range(1, attempts + 1):
            try:
                self._start(timeout)
                return
            except RuntimeError:
                self.stop()
                if attempt == attempts:
                    raise
                self.port = free_port()

    def _start(self, timeout: float) -> None:
        args = [
            self.executable,
            *([self.config_file] if self.config_file else []),
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
            self.process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
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
