"""The asyncio client refuses and fails as the Engine does: same checks, same errors, same
retries, the same idempotent resend of an enqueue whose reply was lost."""

import logging
from collections.abc import Sequence
from typing import Any

import pytest
import redis
from helpers import throwaway_redis_server
from redis_server import RedisServer, free_port

from spinach import Batch, Engine, MemoryBroker, RedisBroker, Tasks
from spinach.aio import AsyncEngine, AsyncRedisBroker
from spinach.aio.scripts import AsyncScriptRunner
from spinach.contract import Call
from spinach.exc import (
    BrokerAuthError,
    BrokerConnectionError,
    BrokerFullError,
    InvalidArgumentsError,
    InvalidJobSignatureError,
    PayloadTooLargeError,
    SchemaMismatchError,
    UnknownTask,
)
from spinach.keys import queue_keys
from spinach.scripts import ReplicationTimeoutError

pytestmark = pytest.mark.anyio


def _attach(spin: Engine) -> None:
    tasks = Tasks()
    tasks.add(lambda data, n=0: None, name="store")
    spin.attach_tasks(tasks)


async def _refusal(call: Any) -> str:
    try:
        await call
    except Exception as e:  # noqa: BLE001 (the test compares it with the sync one)
        return f"{type(e).__name__}: {e}"
    raise AssertionError("the call was not refused")


def _sync_refusal(call: Any) -> str:
    try:
        call()
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"
    raise AssertionError("the call was not refused")


async def test_bad_jobs_are_refused_with_the_engines_errors_before_reaching_redis(
    spin: Engine, aspin: AsyncEngine
) -> None:
    _attach(spin)
    spin.max_payload_bytes = 1000
    cases: list[tuple[type[Exception], tuple[Any, ...], dict[str, Any]]] = [
        (InvalidJobSignatureError, ("store",), {}),  # data missing
        (InvalidJobSignatureError, ("store", 1), {"colour": "red"}),
        (InvalidArgumentsError, ("store", object()), {}),
        (PayloadTooLargeError, ("store", "x" * 2000), {}),
        (UnknownTask, ("no-such-task", 1), {}),
    ]
    for error, args, kwargs in cases:
        with pytest.raises(error):
            await aspin.schedule(*args, **kwargs)
        assert await _refusal(aspin.schedule(*args, **kwargs)) == _sync_refusal(
            lambda args=args, kwargs=kwargs: spin.schedule(*args, **kwargs)
        )
    batch = Batch()
    batch.schedule("store", "fine")
    batch.schedule("store", "x" * 2000)
    with pytest.raises(PayloadTooLargeError, match="over the limit of 1000 bytes"):
        await aspin.schedule_batch(batch)
    with pytest.raises(TypeError, match="schedule_at needs a datetime"):
        await aspin.schedule_at("store", 12, "data")
    with pytest.raises(TypeError, match="schedule_in needs a timedelta"):
        await aspin.schedule_in("store", 12, "data")
    with pytest.raises(TypeError, match="Expected a job id"):
        await aspin.get_job(42)  # type: ignore[arg-type]
    assert [q.ready for q in (await aspin.status()).queues] == [0]  # nothing was sent


async def test_data_of_another_schema_is_refused(spin: Engine, aspin: AsyncEngine) -> None:
    _attach(spin)
    keys = queue_keys(spin.namespace, "spinach")
    spin.broker.client.set(keys.schema, "999")  # left by another Spinach version
    with pytest.raises(SchemaMismatchError, match="schema 999"):
        await aspin.schedule("store", "second")
    batch = Batch()
    batch.schedule("store", "third")
    with pytest.raises(SchemaMismatchError, match="schema 999"):
        await aspin.schedule_batch(batch)
    assert spin.broker.client.hlen(keys.jobs) == 0  # nothing was sent


async def test_scripts_redis_forgot_are_loaded_again(spin: Engine, aspin: AsyncEngine) -> None:
    _attach(spin)
    await aspin.schedule("store", "loads the scripts")
    for flushed in range(2):
        spin.broker.client.script_flush()  # on every primary of a cluster
        if flushed:
            batch = Batch()
            for n in range(3):
                batch.schedule("store", "batch", n)
            await aspin.schedule_batch(batch)  # a pipeline whose calls all got NOSCRIPT
        else:
            await aspin.schedule("store", "single")
    assert (await aspin.status()).queues[0].ready == 5


class LosesFirstReply(AsyncScriptRunner):
    """Runs the calls on Redis, then loses the reply of the first `many`, as a cut
    connection would after Redis applied them."""

    lost = 0

    async def many(self, calls: Sequence[Call], durable: bool = False) -> list[list[Any]]:
        replies = await super().many(calls, durable)
        if not self.lost:
            self.lost += 1
            raise redis.ConnectionError("Connection lost while reading the reply")
        return replies


async def test_an_enqueue_whose_reply_was_lost_is_resent_and_applied_once(
    spin: Engine, aspin: AsyncEngine, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    _attach(spin)
    for send in ("one", "batch"):
        broker = AsyncRedisBroker.from_url(redis_url)
        broker._scripts = LosesFirstReply(broker.client)
        client = AsyncEngine(spin, broker)
        with caplog.at_level(logging.WARNING, logger="spinach.brokers.base"):
            if send == "one":
                await client.schedule("store", "once")
            else:
                batch = Batch()
                for n in range(10):
                    batch.schedule("store", "batch", n)
                await client.schedule_batch(batch)
        await client.close()
    assert sum("Could not enqueue (Connection lost" in r.getMessage() for r in caplog.records) == 2
    assert (await aspin.status()).queues[0].ready == 11  # no job twice


async def test_an_unreachable_redis_raises_broker_connection_error_after_the_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spin = Engine(MemoryBroker(), namespace="unreachable")
    _attach(spin)
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    aspin = AsyncEngine(spin, AsyncRedisBroker.from_url(url, enqueue_job_max_retries=2))
    with (
        caplog.at_level(logging.WARNING, logger="spinach.brokers.base"),
        pytest.raises(BrokerConnectionError, match="Could not enqueue after 3 attempts"),
    ):
        await aspin.schedule("store", "x")
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 2 and all(r.levelno == logging.WARNING for r in retries)
    sync = Engine(RedisBroker.from_url(url, enqueue_job_max_retries=2), namespace="unreachable")
    _attach(sync)
    with pytest.raises(BrokerConnectionError, match="Could not enqueue after 3 attempts"):
        sync.schedule("store", "x")
    await aspin.close()
    sync.broker.close()


@pytest.mark.redis
async def test_wrong_credentials_are_refused_at_once_with_broker_auth_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = RedisServer(["--requirepass", "the-right-one"])
    server.client_options = {"password": "the-right-one"}
    server.start()
    try:
        spin = Engine(MemoryBroker(), namespace="auth")
        _attach(spin)
        url = f"redis://:the-wrong-one@127.0.0.1:{server.port}/0"
        aspin = AsyncEngine(spin, AsyncRedisBroker.from_url(url))
        with pytest.raises(BrokerAuthError, match="Check the user and password"):
            await aspin.schedule("store", "x")
        assert not [r for r in caplog.records if "retrying in" in r.getMessage()]
        await aspin.close()
    finally:
        server.cleanup()


@pytest.mark.redis
async def test_a_full_redis_refuses_new_jobs_with_broker_full_error() -> None:
    with throwaway_redis_server() as server:
        client = server.client()
        spin = Engine(RedisBroker.from_url(server.url), namespace="full")
        _attach(spin)
        aspin = AsyncEngine(spin, AsyncRedisBroker.from_url(server.url))
        await aspin.schedule("store", "warm-up")
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", client.info("memory")["used_memory"] + 1_000_000)
        with pytest.raises(BrokerFullError, match="out of memory"):
            for _ in range(100):
                await aspin.schedule("store", "x" * 100_000)
        await aspin.close()
        spin.broker.close()
        client.close()


@pytest.mark.redis
async def test_waiting_for_replicas_reports_when_none_confirms(
    redis_server: RedisServer, namespace: str
) -> None:
    spin = Engine(RedisBroker.from_url(redis_server.url), namespace=namespace)
    _attach(spin)
    broker = AsyncRedisBroker.from_url(redis_server.url, wait_for_replicas=1, wait_timeout_ms=50)
    aspin = AsyncEngine(spin, broker)
    with pytest.raises(ReplicationTimeoutError, match="0 of 1 replicas"):
        await aspin.schedule("store", "x")
    batch = Batch()
    batch.schedule("store", "y")
    with pytest.raises(ReplicationTimeoutError, match="0 of 1 replicas"):
        await aspin.schedule_batch(batch)
    assert (await aspin.status()).queues[0].ready == 2  # enqueued on the primary all the same
    await aspin.close()
    spin.broker.close()


@pytest.mark.cluster
async def test_a_cluster_cannot_wait_for_replicas(redis_cluster: Any) -> None:
    with pytest.raises(ValueError, match="not available on Redis Cluster"):
        AsyncRedisBroker.from_url(redis_cluster.url, wait_for_replicas=1)
