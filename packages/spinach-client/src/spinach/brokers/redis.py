"""The broker for production: a Redis server, a Redis Cluster, or Redis behind Sentinel."""

from dataclasses import dataclass
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
        broker_options, client_options = split_url_options(options)
        return cls(client_from_url(url, client_options, SYNC_CLIENTS), **broker_options)


@dataclass(frozen=True)
class ClientClasses:
    """The classes of one flavour of redis-py (sync or asyncio) that a URL may need."""

    redis: Any
    cluster: Any
    sentinel: Any
    #: The connection class of a ``rediss://`` server or cluster node (None: redis-py's own).
    tls: Any
    #: The connection class of a ``rediss+sentinel://`` primary.
    sentinel_tls: Any


SYNC_CLIENTS = ClientClasses(
    redis.Redis, RedisCluster, Sentinel, TLSConnection, SentinelTLSConnection
)

#: The broker's own keyword arguments of `from_url`; the others go to redis-py's client.
BROKER_OPTIONS = ("wait_for_replicas", "wait_timeout_ms", "enqueue_job_max_retries")


def split_url_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the broker's options, the client's over DEFAULT_CLIENT_OPTIONS) of `from_url`."""
    broker_options = {name: options[name] for name in BROKER_OPTIONS if name in options}
    client_options = {
        **DEFAULT_CLIENT_OPTIONS,
        **{name: value for name, value in options.items() if name not in BROKER_OPTIONS},
    }
    return broker_options, client_options


def client_from_url(url: str, options: dict[str, Any], classes: ClientClasses) -> Any:
    """The redis-py client (of `classes`' flavour) of a URL that `RedisBroker.from_url` takes."""
    client_options = dict(options)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in URL_SCHEMES:
        raise ValueError(
            f"The scheme of Redis URL {_redact(url)!r} must be one of "
            + ", ".join(f"{name}://" for name in URL_SCHEMES)
        )
    if scheme.startswith("rediss") and classes.tls is not None:
        # The TLS handshake bounded by the connect timeout.
        client_options.setdefault("connection_class", classes.tls)
    if scheme in ("redis+cluster", "rediss+cluster"):
        # redis-py would replace the connection class of a rediss:// URL by its own.
        node_url = "redis" + url.split("+cluster", 1)[1]
        return classes.cluster.from_url(node_url, **client_options)
    if scheme in ("redis+sentinel", "rediss+sentinel"):
        return _sentinel_client(url, client_options, classes)
    return classes.redis.from_url(url, **client_options)


def _sentinel_client(url: str, options: dict[str, Any], classes: ClientClasses) -> Any:
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
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
        addresses.append((name, int(port or 26379)))  # a sentinel's port defaults to 26379
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
        master_options["connection_class"] = classes.sentinel_tls
    sentinel = classes.sentinel(addresses, sentinel_kwargs=sentinel_options, **master_options)
    return sentinel.master_for(service)


def _redact(url: str) -> str:
    """The URL without its password, for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    return url.replace(f"{user}:{parts.password}@", f"{user}:***@", 1)


def _default_client() -> redis.Redis:
    return redis.Redis(**DEFAULT_CLIENT_OPTIONS)
