"""Fixtures of the asyncio client's tests: an Engine and its AsyncEngine on Redis or a cluster.

The tests are coroutines run by anyio's pytest plugin, on asyncio. Jobs they send are run by
the Engine's sync workers (in a thread), as a web app's jobs are run by `spinach-worker`.
"""

from collections.abc import AsyncIterator, Iterator

import pytest

from spinach import Engine, RedisBroker
from spinach.aio import AsyncEngine, AsyncRedisBroker


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(
    params=[
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("cluster", marks=pytest.mark.cluster),
    ]
)
def redis_url(request: pytest.FixtureRequest) -> str:
    """The URL of a throwaway Redis, or of a throwaway 3-primary Redis Cluster."""
    fixture = "redis_server" if request.param == "redis" else "redis_cluster"
    return str(request.getfixturevalue(fixture).url)


@pytest.fixture
def spin(redis_url: str, namespace: str) -> Iterator[Engine]:
    """The application's Engine on a fresh namespace; its workers are stopped afterwards."""
    engine = Engine(RedisBroker.from_url(redis_url), namespace=namespace)
    yield engine
    engine.stop_workers()
    engine.broker.close()


@pytest.fixture
async def aspin(spin: Engine, redis_url: str) -> AsyncIterator[AsyncEngine]:
    """The asyncio client of `spin`, with a connection of its own."""
    client = AsyncEngine(spin, AsyncRedisBroker.from_url(redis_url))
    yield client
    await client.close()
