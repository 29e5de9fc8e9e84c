"""The sans-IO operations and their two drivers: what they yield, what they make of errors."""

import subprocess
import sys
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
from redis.asyncio.sentinel import SentinelManagedSSLConnection
from redis.exceptions import OutOfMemoryError

from spinach import Engine, MemoryBroker, Tasks, operations
from spinach.aio import AsyncEngine, AsyncRedisBroker
from spinach.exc import BrokerFullError, SchemaMismatchError
from spinach.protocol import PreparedJob
from spinach.sansio import Command, Op, Scripts, Steps, done
from spinach_lua import SCHEMA_VERSION


def _drive(op: Op[Any], answer: Any) -> Any:
    """Drive `op` by hand: `answer(request)` returns a reply or raises."""
    steps = Steps(op)
    while (request := steps.request) is not None:
        try:
            reply = answer(request)
        except Exception as e:  # noqa: BLE001 (thrown into the operation, as the brokers do)
            steps.fail(e)
        else:
            steps.reply(reply)
    return steps.result


def _broker() -> MemoryBroker:
    """An embedded broker serving the namespace "ops" (the operations need one)."""
    broker = MemoryBroker()
    Engine(broker, namespace="ops")
    return broker


def _job(queue: str = "spinach") -> PreparedJob:
    return PreparedJob("task", queue, "id-1", 0, 0, 0, b"{}")


def test_an_operation_yields_its_requests_and_returns_what_it_read() -> None:
    broker = _broker()
    seen: list[Any] = []

    def answer(request: Any) -> Any:
        seen.append(request)
        return (7, [b"b", b"a"]) if len(seen) == 1 else (0, [b"a", b"c"])

    assert _drive(operations.known_queues(broker), answer) == ["a", "b", "c"]
    assert [r.name for r in seen] == ["sscan", "sscan"] and seen[1].args[1] == 7
    assert _drive(done(42), answer) == 42


def test_an_enqueue_is_one_retried_durable_request_and_out_of_memory_becomes_broker_full() -> None:
    broker = _broker()
    noted: set[str] = set()
    requests: list[Any] = []

    def answer(request: Any) -> Any:
        requests.append(request)
        if isinstance(request, Scripts):
            raise OutOfMemoryError("OOM command not allowed")
        return None if request.name == "set" else 1  # no schema recorded yet

    with pytest.raises(BrokerFullError, match="nothing was enqueued"):
        _drive(operations.enqueue(broker, [_job(), _job("other")], noted), answer)
    sadd, *schema_checks, scripts = requests
    assert isinstance(sadd, Command) and sadd.name == "sadd" and noted == {"spinach", "other"}
    assert [(c.name, c.kwargs) for c in schema_checks] == [("set", {"nx": True, "get": True})] * 2
    assert broker.schema_checked == {"spinach", "other"}
    assert isinstance(scripts, Scripts) and scripts.durable and scripts.retried == "enqueue"
    assert [call[0] for call in scripts.calls] == ["enqueue", "enqueue"]  # one per queue


def test_a_queue_list_that_cannot_be_written_is_noted_later() -> None:
    broker = _broker()
    noted: set[str] = set()

    def unreachable(request: Any) -> Any:
        raise redis.ConnectionError("down")

    assert _drive(operations.note_queues(broker, ["spinach"], noted), unreachable) is None
    assert noted == set()  # tried again by the next enqueue


def test_data_of_another_schema_is_refused_and_a_queue_is_checked_once() -> None:
    broker = _broker()
    requests: list[Any] = []

    def answer(request: Any) -> Any:
        requests.append(request)
        if isinstance(request, Command) and request.name == "set":
            return b"2" if "{ops/old}" in request.args[0] else None
        return [0, 1]  # run_now's reply: status 0, moved

    with pytest.raises(
        SchemaMismatchError, match=f"schema 2, but this installation uses schema {SCHEMA_VERSION}"
    ):
        _drive(operations.run_now(broker, "old", "id"), answer)
    assert len(requests) == 1 and broker.schema_checked == set()  # no script ran on it
    requests.clear()
    assert _drive(operations.run_now(broker, "new", "id"), answer) is True
    assert _drive(operations.run_now(broker, "new", "id"), answer) is True
    names = [r.name if isinstance(r, Command) else "script" for r in requests]
    assert names == ["set", "script", "script"] and broker.schema_checked == {"new"}


def test_an_error_the_operation_does_not_handle_leaves_it_unchanged() -> None:
    broker = _broker()
    error = redis.ResponseError("WRONGTYPE")

    def answer(request: Any) -> Any:
        raise error

    with pytest.raises(redis.ResponseError) as raised:
        _drive(operations.limit_sources(broker, "spinach"), answer)
    assert raised.value is error


@pytest.mark.parametrize(
    "url", ["redis://10.0.0.1:6379/2", "rediss://:secret@redis.internal:6380/0"]
)
def test_async_urls_are_the_urls_of_redis_broker(url: str) -> None:
    broker = AsyncRedisBroker.from_url(url, socket_timeout=7, enqueue_job_max_retries=1)
    assert type(broker.client) is redis.asyncio.Redis
    kwargs = broker.client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 7 and kwargs["socket_connect_timeout"] == 10
    assert broker.enqueue_job_max_retries == 1
    if url.startswith("rediss"):
        assert broker.client.connection_pool.connection_class.__name__ == "SSLConnection"
        assert kwargs["password"] == "secret"


def test_a_cluster_url_makes_an_asyncio_cluster_client() -> None:
    broker = AsyncRedisBroker.from_url("redis+cluster://10.0.0.5:7000")  # connects when used
    assert type(broker.client) is redis.asyncio.cluster.RedisCluster


def test_a_sentinel_url_follows_the_primary_the_sentinels_name() -> None:
    broker = AsyncRedisBroker.from_url("rediss+sentinel://:pw@10.0.0.1:26379,10.0.0.2/shop/3")
    pool = broker.client.connection_pool
    assert pool.service_name == "shop" and pool.connection_class is SentinelManagedSSLConnection
    assert pool.connection_kwargs["db"] == 3 and pool.connection_kwargs["password"] == "pw"
    hosts = [s.connection_pool.connection_kwargs["host"] for s in pool.sentinel_manager.sentinels]
    assert hosts == ["10.0.0.1", "10.0.0.2"]


def test_a_bad_url_or_client_is_refused_as_redis_broker_refuses_it() -> None:
    from spinach import RedisBroker

    for make in (RedisBroker.from_url, AsyncRedisBroker.from_url):
        with pytest.raises(ValueError, match=r"must be one of redis://, rediss://"):
            make("http://10.0.0.1:6379")
    with pytest.raises(TypeError, match=r"needs a redis\.asyncio client"):
        AsyncRedisBroker(redis.Redis())  # type: ignore[arg-type]
    spin = Engine(MemoryBroker(), namespace="ops")
    with pytest.raises(TypeError, match=r"needs a spinach\.aio\.AsyncRedisBroker"):
        AsyncEngine(spin, spin.broker)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"wraps a spinach\.Engine"):
        AsyncEngine(Tasks(), AsyncRedisBroker.from_url("redis://10.0.0.1"))  # type: ignore[arg-type]


def test_importing_spinach_does_not_import_the_asyncio_client() -> None:
    code = "import sys, spinach; print('spinach.aio' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_throughput_merges_queues_by_minute_when_a_minute_turns_between_two_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from spinach import admin

    start = 1_700_000_040_000  # a minute's start, in ms
    reads = {"a": (start, [(1, 0, 0), (2, 1, 0)]), "b": (start + 60_000, [(10, 0, 0), (20, 0, 5)])}

    def throughput(scope: Any, queue: str, minutes: int) -> Op[Any]:
        return done(reads[queue])

    monkeypatch.setattr(operations, "throughput", throughput)
    merged = _drive(admin.throughput_op(MemoryBroker(), ["a", "b"], 2), lambda r: None)
    assert [int(m.minute.timestamp() * 1000) for m in merged] == [start + 60_000, start + 120_000]
    assert [(m.processed, m.failed, m.retried) for m in merged] == [(13, 1, 0), (25, 0, 5)]


def test_throughput_of_no_queue_ends_at_redis_s_current_minute() -> None:
    from spinach import admin

    now_s = 1_700_000_075  # 35 s into a minute
    merged = _drive(admin.throughput_op(MemoryBroker(), [], 3), lambda r: (now_s, 250_000))
    assert [int(m.minute.timestamp()) for m in merged] == [now_s - 35 - 120, now_s - 95, now_s - 35]
    assert all(m.processed == 0 for m in merged)
