"""The broker for production: a Redis server (or a Redis-compatible one)."""

from typing import Any

import redis

from spinach import const
from spinach.brokers.base import Broker

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

    Without a client it connects to localhost:6379, as Spinach 0.0.25 did; production code
    passes its own client or uses ``RedisBroker.from_url``.
    """

    def __init__(
        self,
        redis: "redis.Redis | None" = None,
        enqueue_job_max_retries: int = const.DEFAULT_ENQUEUE_JOB_RETRIES,
    ) -> None:
        client = redis if redis is not None else _default_client()
        super().__init__(client, enqueue_job_max_retries=enqueue_job_max_retries)

    @classmethod
    def from_url(cls, url: str, **client_options: Any) -> "RedisBroker":
        """Build a broker from a ``redis://`` or ``rediss://`` URL.

        Keyword arguments are passed to ``redis.Redis.from_url`` and override the defaults in
        DEFAULT_CLIENT_OPTIONS.
        """
        options = {**DEFAULT_CLIENT_OPTIONS, **client_options}
        return cls(redis.Redis.from_url(url, **options))


def _default_client() -> redis.Redis:
    return redis.Redis(**DEFAULT_CLIENT_OPTIONS)
