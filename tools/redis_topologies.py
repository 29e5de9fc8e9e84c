"""Redis topologies for tests and benchmarks: a cluster, a Sentinel set, a TLS server.

All bind to 127.0.0.1 on free ports, with their own temporary directories, and are stopped by
`cleanup()`. They are built from `redis_server.RedisServer` and `redis-cli`.
"""

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from redis.cluster import RedisCluster
from redis_server import SHARED_REDIS_PORT, RedisServer


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    while True:
        port = random.randrange(20000, 45000)
        if port != SHARED_REDIS_PORT and _port_is_free(port) and _port_is_free(port + 10000):
            return port


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"Timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class RedisClusterSet:
    """A Redis Cluster of `primaries` primaries and no replicas."""

    def __init__(self, primaries: int = 3) -> None:
        self.nodes: list[RedisServer] = []
        for _ in range(primaries):
            node = RedisServer(
                ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", "2000"]
            )  # fmt: skip
            node.port = free_cluster_port()
            self.nodes.append(node)

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}/0"

    def client(self) -> RedisCluster:
        return RedisCluster(host="127.0.0.1", port=self.nodes[0].port)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0",
             "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

        def ready() -> bool:
            for node in self.nodes:
                info = node.client().cluster("info")
                if not isinstance(info, dict) or info.get("cluster_state") != "ok":
                    return False
            return True

        wait_until(ready, 30, "the cluster to be ready")

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()


class SentinelSet:
    """A primary, one replica and three sentinels watching them as `service`."""

    service = "mymaster"

    def __init__(self) -> None:
        self.primary = RedisServer()
        self.replica = RedisServer()
        self.sentinels: list[RedisServer] = []
        self.directory = tempfile.mkdtemp(prefix="spinach-sentinel-")

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", sentinel.port) for sentinel in self.sentinels]

    @property
    def url(self) -> str:
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinel_addresses)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    def start(self) -> None:
        # No diskless-sync delay (5 s by default): the replica is in sync within a moment, long
        # before a loaded machine could make the sentinels doubt the primary.
        self.primary.extra_args += ["--repl-diskless-sync-delay", "0"]
        self.primary.start()
        self.replica.extra_args += ["--replicaof", "127.0.0.1", str(self.primary.port)]
        self.replica.start()
        for index in range(3):
            sentinel = RedisServer()
            config = Path(self.directory) / f"sentinel-{index}.conf"
            config.write_text(
                f"port {sentinel.port}\n"
                f"sentinel monitor {self.service} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {self.service} 1000\n"
                f"sentinel failover-timeout {self.service} 5000\n"
            )
            sentinel.config_file = str(config)
            sentinel.extra_args = ["--sentinel"]
            sentinel.start()
            self.sentinels.append(sentinel)
        try:
            wait_until(self._replica_synced, 60, "the replica to sync")
        except RuntimeError as e:
            raise RuntimeError(f"{e}; {self._replication_state()}") from None

    def _replica_synced(self) -> bool:
        info = self.replica.client().info("replication")
        return info.get("master_link_status") == "up"

    def _replication_state(self) -> str:
        """What each side says of the replication, for a setup that did not sync."""
        parts = []
        for name, server in (("primary", self.primary), ("replica", self.replica)):
            info = server.client().info("replication")
            keys = ("role", "master_link_status", "master_sync_in_progress", "connected_slaves")
            parts.append(f"{name}: " + ", ".join(f"{k}={info.get(k)}" for k in keys))
        for sentinel in self.sentinels[:1]:
            primary = sentinel.client().sentinel_masters()
            parts.append(f"sentinel sees: {primary!r}")
        return "; ".join(parts)

    def cleanup(self) -> None:
        for server in [*self.sentinels, self.replica, self.primary]:
            server.cleanup()
        shutil.rmtree(self.directory, ignore_errors=True)


def make_certificates(directory: str) -> dict[str, str]:
    """Generate a throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    out = Path(directory)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=out, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=spinach-test-ca", "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    (out / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=spinach-{name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr")  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "san.ext",
                "-out", f"{name}.crt")  # fmt: skip
    return {name: str(out / name) for name in os.listdir(out)}
