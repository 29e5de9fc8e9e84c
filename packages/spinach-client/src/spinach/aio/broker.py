"""The asyncio client's connection to Redis: it runs the operations of spinach.operations.

It holds a redis.asyncio client (one server, a Redis Cluster, or the primary of a Sentinel
set) and sends the requests of the operations (spinach.sansio) that `Broker` sends with
redis-py: the same script calls, the same replies, the same retries and errors.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import Sentinel, SentinelManagedSSLConnection

from spinach import const, operations
from spinach.aio.retrying import retry
from spinach.aio.scripts import AsyncScriptRunner
from spinach.brokers.redis import ClientClasses, client_from_url, split_url_options
from spinach.retrying import Backoff
from spinach.sansio import Op, Request, Script, Scripts, Steps

logger = logging.getLogger("spinach.brokers.base")  # the sync broker's: one logger to watch

T = TypeVar("T")

#: The asyncio flavour of redis-py's clients. The TLS handshake of redis.asyncio already runs
#: under the connect timeout, so its own connection classes serve.
ASYNC_CLIENTS = ClientClasses(Redis, RedisCluster, Sentinel, None, SentinelManagedSSLConnection)


class AsyncRedisBroker:
    """Redis for the asyncio client: a redis.asyncio client and how to send requests on it.

    `redis` is a `redis.asyncio.Redis` (also the one an asyncio `Sentinel` hands out with
    `master_for`) or a `redis.asyncio.cluster.RedisCluster`; `from_url` builds one from the
    URLs `RedisBroker.from_url` takes. `enqueue_job_max_retries`, `wait_for_replicas` and
    `wait_timeout_ms` mean what they mean for `RedisBroker`.

    A redis.asyncio client belongs to the event loop that first used it: make the broker in
    the loop that serves the application (a web framework's startup or lifespan hook) and
    `await close()` it there.
    """

    def __init__(
        self,
        redis: "Redis | RedisCluster",
        enqueue_job_max_retries: int = const.DEFAULT_ENQUEUE_JOB_RETRIES,
        *,
        wait_for_replicas: int = 0,
        wait_timeout_ms: int = 1000,
    ) -> None:
        if not isinstance(redis, Redis | RedisCluster):
            raise TypeError(
                "AsyncRedisBroker needs a redis.asyncio client (redis.asyncio.Redis or "
                f"redis.asyncio.cluster.RedisCluster), got {redis!r}: a sync client goes to "
                "RedisBroker"
            )
        self._scripts = AsyncScriptRunner(redis, wait_for_replicas, wait_timeout_ms)
        self._r: Any = redis
        self.enqueue_job_max_retries = enqueue_job_max_retries

    @classmethod
    def from_url(cls, url: str, **options: Any) -> "AsyncRedisBroker":
        """Build a broker from a URL, as `RedisBroker.from_url` does (same schemes, options)."""
        broker_options, client_options = split_url_options(options)
        return cls(client_from_url(url, client_options, ASYNC_CLIENTS), **broker_options)

    @property
    def client(self) -> Any:
        """The redis.asyncio client this broker holds."""
        return self._r

    async def run(self, op: Op[T]) -> T:
        """Run a sans-IO operation (see spinach.sansio) on this broker's client."""
        steps = Steps(op)
        while (request := steps.request) is not None:
            try:
                reply = await self._execute(request)
            except Exception as e:  # noqa: BLE001 (raised in the operation, where it asked)
                steps.fail(e)
            else:
                steps.reply(reply)
        result: T = steps.result
        return result

    async def _execute(self, request: Request) -> Any:
        if isinstance(request, Script):
            return await self._scripts(request.call)
        if isinstance(request, Scripts):
            calls, durable = request.calls, request.durable
            if not request.retried:
                return await self._scripts.many(calls, durable)
            return await self._with_retries(
                request.retried, lambda: self._scripts.many(calls, durable)
            )
        method = getattr(self._r, request.name)
        if request.retried:
            return await self._with_retries(
                request.retried, lambda: method(*request.args, **request.kwargs)
            )
        return await method(*request.args, **request.kwargs)

    async def _with_retries(self, what: str, send: Callable[[], Awaitable[Any]]) -> Any:
        return await retry(
            send,
            what,
            attempts=self.enqueue_job_max_retries + 1,
            backoff=Backoff(*operations.RETRY_BACKOFF),
            log=logger,
        )

    async def ping(self) -> None:
        """Raise unless Redis answers."""
        await self._r.ping()

    async def close(self) -> None:
        """Close the connections of the client this broker holds (and of its sentinels)."""
        sentinel = getattr(getattr(self._r, "connection_pool", None), "sentinel_manager", None)
        await self._r.aclose()
        for client in sentinel.sentinels if sentinel is not None else ():
            await client.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._r!r}>"
