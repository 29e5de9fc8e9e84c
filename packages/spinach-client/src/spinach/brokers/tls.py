"""TLS connections whose handshake is bounded by the connect timeout, not the read timeout.

redis-py opens the TCP connection under ``socket_connect_timeout``, then switches the socket
to ``socket_timeout`` and only then does the TLS handshake. A ``rediss://`` URL pointed at a
plain Redis port connects at once, and the server waits for a command while the client waits
for the server's hello: both stay silent until the read timeout (30 s by default, longer than
an idle worker's blocking wait, so it cannot be shortened). The handshake is part of
connecting: these classes run it under the connect timeout and name the likely cause.
"""

from typing import Any

from redis.connection import SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.sentinel import SentinelManagedSSLConnection


class _HandshakeInConnectTimeout:
    """Mixin for a redis-py SSL connection class: TCP connect and TLS handshake, both bounded."""

    socket_timeout: float | None
    socket_connect_timeout: float | None
    host: str
    port: int

    def _connect(self) -> Any:
        read_timeout = self.socket_timeout
        self.socket_timeout = self.socket_connect_timeout  # what the handshake runs under
        try:
            sock = super()._connect()  # type: ignore[misc]
        except TimeoutError:
            raise RedisConnectionError(
                f"No TLS connection to {self.host}:{self.port} within "
                f"{self.socket_connect_timeout}s (socket_connect_timeout): the host does not "
                "answer, or the port does not serve TLS (a rediss:// URL given a plain Redis "
                "port?)"
            ) from None
        finally:
            self.socket_timeout = read_timeout
        sock.settimeout(read_timeout)
        return sock


class TLSConnection(_HandshakeInConnectTimeout, SSLConnection):
    """``rediss://`` to one server or to the nodes of a cluster."""


class SentinelTLSConnection(_HandshakeInConnectTimeout, SentinelManagedSSLConnection):
    """``rediss+sentinel://``: TLS to the primary that the sentinels name."""
