"""Fixtures shared by the integration tests: real redis-server processes and both brokers."""

import gc
import os
import uuid
import warnings
from collections.abc import Callable, Iterator

import pytest
import redis
from helpers import Ledger, throwaway_redis_server
from redis_server import INSTALL_HINT, RedisServer
from redis_topologies import RedisClusterSet

from spinach import Engine, MemoryBroker, RedisBroker
from spinach.brokers.base import Broker


@pytest.fixture(autouse=True)
def _collect_unclosed_clients() -> Iterator[None]:
    """Collect, after each test, the Redis clients a test dropped without closing them.

    redis-py's clients sit in reference cycles, so their sockets are closed by the garbage
    collector, whenever it runs and in whatever thread: with warnings as errors, the
    ResourceWarning then fails a later, unrelated test, or a thread of it (seen in the
    cluster's slot-migration test). Collected here, the warning is dropped at a known point.
    """
    yield
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="unclosed", category=ResourceWarning)
        gc.collect()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One throwaway redis-server for the whole session (tests use their own namespaces)."""
    with throwaway_redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterSet]:
    """One throwaway Redis Cluster of three primaries for the whole session."""
    try:
        cluster = RedisClusterSet(primaries=3)
    except RuntimeError:
        if os.environ.get("CI"):
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("cluster", marks=pytest.mark.cluster),
    ]
)
def broker_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_broker(broker_kind: str, request: pytest.FixtureRequest) -> Iterator[Callable[[], Broker]]:
    """Return a factory of brokers that all share one store (one Redis, or one embedded one)."""
    made: list[Broker] = []
    if broker_kind in ("redis", "cluster"):
        url = request.getfixturevalue(
            f"redis_{'server' if broker_kind == 'redis' else 'cluster'}"
        ).url

        def factory() -> Broker:
            broker = RedisBroker.from_url(url)
            made.append(broker)
            return broker
    else:
        first = MemoryBroker()

        def factory() -> Broker:
            broker = first if not made else Broker(first._r)
            made.append(broker)
            return broker

    yield factory
    for broker in made:
        broker.close()


@pytest.fixture
def namespace() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def spin(make_broker: Callable[[], Broker], namespace: str) -> Iterator[Engine]:
    """An Engine on a fresh namespace; its workers are stopped after the test."""
    engine = Engine(make_broker(), namespace=namespace)
    yield engine
    engine.stop_workers()


@pytest.fixture
def raw(spin: Engine) -> "redis.Redis":
    """The client under the engine's broker, to look at or damage the stored state."""
    return spin.broker._r


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()
