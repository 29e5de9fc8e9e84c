"""The broker for production: a Redis server, a Redis Cluster, or Redis behind Sentinel."""

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.cluster import RedisCluster
from redis.sentinel import Sentinel

from spinach import const
from spinach.brokers.base import Broker
from spinach.brokers.tls import SentinelTLSConnection, TLSConnection

#: The URL schemes of `RedisBroker.from_url`.
URL_SCHEMES = (
    "redis", "rediss", "unix", "redis+cluster", "rediss+cluster", "redis+sentinel",
    "rediss+sentinel",
)  # fmt: skip

#: Connection settings used when RedisBroker builds the client itself. The socket timeout must
#: exceed the longest blocking wait of an idle worker (5 s); keepalive and health checks notice
#: half-open connections after a network fault instead of waiting on them forever.
DEFAULT_CLIENT_OPTIONS: dict[str, Any] = {
    "socket_timeout": 30,
    "socket_connect_timeout": 10,
    "socket_keepalive": True,
    "health_check_interval": 30,
}


class RedisBroker(Broker):
    """Jobs kept in Redis, shared by every client and worker of the namespace.

    `redis` is a redis-py client: `redis.Redis` (also the one a `Sentinel` hands out with
    `master_for`) or `redis.cluster.RedisCluster`. Without one it connects to localhost:6379,
    as Spinach 0.0.25 did; production code passes its own client or uses `from_url`.

    `wait_for_replicas`: an enqueue returns only once that many replicas acknowledged it (Redis
    WAIT, up to `wait_timeout_ms`), so that a failover right after cannot lose it; it costs a
    replication round trip per enqueue. Not available on Redis Cluster.
    """

    def __init__(
        self,
        redis: "redis.Redis | RedisCluster | None" = None,
        enqueue_job_max_retries: int = const.DEFAULT_ENQUEUE_JOB_RETRIES,
        *,
        wait_for_replicas: int = 0,
        wait_timeout_ms: int = 1000,
    ) -> None:
        client = redis if redis is not None else _default_client()
        super().__init__(
            client,
            enqueue_job_max_retries=enqueue_job_max_retries,
            wait_for_replicas=wait_for_replicas,
            wait_timeout_ms=wait_timeout_ms,
        )

    @classmethod
    def from_url(cls, url: str, **options: Any) -> "RedisBroker":
        """Build a broker from a URL:

        - ``redis://[user:password@]host:port/db`` (``rediss://`` for TLS): one Redis server;
        - ``redis+cluster://[user:password@]host:port`` (``rediss+cluster://``): a Redis Cluster,
          discovered from that node;
        - ``redis+sentinel://[user:password@]host:port,host:port/service/db``
          (``rediss+sentinel://``): the primary that the sentinels name for `service`, followed
          across failovers.

        Query parameters and keyword arguments go to redis-py's client (TLS files such as
        ``ssl_ca_certs``, timeouts...), over DEFAULT_CLIENT_OPTIONS. Over TLS, the handshake
        counts in ``socket_connect_timeout``, not in ``socket_timeout``. Broker options
        (`wait_for_replicas`, `wait_timeout_ms`, `enqueue_job_max_retries`) are taken from the
        keyword arguments.
        """
        broker_options = {
            name: options.pop(name)
            for name in ("wait_for_replicas", "wait_timeout_ms", "enqueue_job_max_retries")
            if name in options
        }
        client_options = {**DEFAULT_CLIENT_OPTIONS, **options}
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in URL_SCHEMES:
            raise ValueError(
                f"The scheme of Redis URL {_redact(url)!r} must be one of "
                + ", ".join(f"{name}://" for name in URL_SCHEMES)
            )
        client: redis.Redis | RedisCluster
        if scheme.startswith("rediss"):  # the TLS handshake bounded by the connect timeout
            client_options.setdefault("connection_class", TLSConnection)
        if scheme in ("redis+cluster", "rediss+cluster"):
            # redis-py would replace the connection class of a rediss:// URL by its own.
            node_url = "redis" + url.split("+cluster", 1)[1]
            client = RedisCluster.from_url(node_url, **client_options)
        elif scheme in ("redis+sentinel", "rediss+sentinel"):
            client = _sentinel_client(url, client_options)
        else:
            client = redis.Redis.from_url(url, **client_options)
        return cls(client, **broker_options)


def _sentinel_client(url: str, options: dict[str, Any]) -> redis.Redis:
    """The client of the primary that the sentinels of a ``redis+sentinel://`` URL name."""
    parts = urlsplit(url)
    hosts = parts.netloc.rsplit("@", 1)[-1]
    path = [segment for segment in parts.path.split("/") if segment]
    if not path:
        raise ValueError(
            "A Sentinel URL names its service: redis+sentinel://host:port,.../SERVICE/DB, "
            f"not {_redact(url)}"
        )
    service, db = path[0], int(path[1]) if len(path) > 1 else 0
    addresses = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":")
        addresses.append((name or host, int(port or 26379)))
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    sentinel_options: dict[str, Any] = {
        key: options[key] for key in ("socket_timeout", "socket_connect_timeout") if key in options
    }
    if "sentinel_password" in query:
        sentinel_options["password"] = query.pop("sentinel_password")
    master_options = {**options, **query, "db": db}
    if parts.username:
        master_options["username"] = unquote(parts.username)
    if parts.password:
        master_options["password"] = unquote(parts.password)
    if parts.scheme.startswith("rediss"):
        master_options["connection_class"] = SentinelTLSConnection
    sentinel = Sentinel(addresses, sentinel_kwargs=sentinel_options, **master_options)  # type: ignore[no-untyped-call]
    client: redis.Redis = sentinel.master_for(service)  # type: ignore[no-untyped-call]
    return client


def _redact(url: str) -> str:
    """The URL without its password, for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    return url.replace(f"{user}:{parts.password}@", f"{user}:***@", 1)


def _default_client() -> redis.Redis:
    return redis.Redis(**DEFAULT_CLIENT_OPTIONS)
