"""The hot path on a real Redis: one round trip serves many jobs under load."""

import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from helpers import Ledger, throwaway_redis_server
from redis_server import RedisServer

from spinach import Batch, Engine, RedisBroker, Tasks, operations, redis_clock
from spinach.envelope import decode

pytestmark = pytest.mark.redis


def _script_calls(client: "redis.Redis") -> dict[str, int]:
    stats = client.info("commandstats")
    return {
        name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))
        for name in ("evalsha", "eval", "blpop")
    }


def test_a_batch_of_jobs_is_sent_in_one_round_trip(redis_server: RedisServer) -> None:
    client = redis_server.client()
    spin = Engine(RedisBroker.from_url(redis_server.url), namespace="hot-batch")
    tasks = Tasks()
    tasks.add(lambda i: None, name="noop")
    spin.attach_tasks(tasks)
    spin.schedule("noop", 0)  # loads the script
    before = _script_calls(client)
    batch = Batch()
    for i in range(10_000):
        batch.schedule("noop", i)
    spin.schedule_batch(batch)
    after = _script_calls(client)
    assert after["evalsha"] - before["evalsha"] == 1
    assert spin.broker.queue_stats("spinach").ready == 10_001


def _queued_noops(redis_server: RedisServer, ledger: Ledger, namespace: str) -> Engine:
    """An engine on `namespace` with 5,000 jobs of a task that only records its argument."""
    spin = Engine(RedisBroker.from_url(redis_server.url), namespace=namespace)
    tasks = Tasks()
    tasks.add(lambda i: ledger.add(i), name="noop")
    spin.attach_tasks(tasks)
    batch = Batch()
    for i in range(5_000):
        batch.schedule("noop", i)
    spin.schedule_batch(batch)
    return spin


def test_a_busy_worker_fetches_and_acknowledges_many_jobs_per_round_trip(
    redis_server: RedisServer, ledger: Ledger
) -> None:
    client = redis_server.client()
    spin = _queued_noops(redis_server, ledger, "hot-worker")
    before = _script_calls(client)
    spin.start_workers(number=8, block=True, stop_when_queue_empty=True)
    after = _script_calls(client)
    assert len(ledger) == 5_000
    round_trips = after["evalsha"] - before["evalsha"] + after["blpop"] - before["blpop"]
    # Fetches take the free threads' jobs plus short jobs fetched ahead of them (auto prefetch),
    # and outcomes ride on them: fewer round trips than one per 8 jobs (the thread count).
    assert round_trips < 5_000 / 8, round_trips


def test_under_load_outcomes_ride_on_fetches(redis_server: RedisServer, ledger: Ledger) -> None:
    """A busy fetcher carries the outcomes of the jobs that just finished; the acker's own
    script calls (one more call each) are left for the moments the fetcher is not busy."""
    spin = _queued_noops(redis_server, ledger, "hot-carry")
    calls = {"fetch": 0, "finish": 0}
    broker = spin.broker
    for name in calls:
        real = getattr(broker, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _real(*args, **kwargs)

        setattr(broker, name, counted)
    # Without prefetch: a fetch per 8 jobs at most, so that the outcomes have many to ride on.
    spin.start_workers(number=8, block=True, stop_when_queue_empty=True, prefetch=0)
    assert len(ledger) == 5_000
    assert calls["fetch"] >= 5_000 / 8
    assert calls["finish"] <= calls["fetch"] / 20, calls


def _commands(client: "redis.Redis") -> dict[str, int]:
    """Commands Redis ran since its counters were reset, by name (this test's probes aside)."""
    return {
        name.removeprefix("cmdstat_"): int(stat["calls"])
        for name, stat in client.info("commandstats").items()
        if name not in ("cmdstat_info", "cmdstat_config|resetstat")
    }


def _engine(server: RedisServer, namespace: str, tasks: Tasks | None = None) -> Engine:
    """An engine on a private server, with `tasks` (by default one no-op task, `noop`)."""
    spin = Engine(RedisBroker.from_url(server.url), namespace=namespace)
    if tasks is None:
        tasks = Tasks()
        tasks.add(lambda i: None, name="noop")
    spin.attach_tasks(tasks)
    return spin


def test_schedule_runs_four_commands_in_redis() -> None:
    """One script call whose work is the idempotency token, the record and the list push: it
    reads neither the limits (the first fetch parks a blocked job) nor Redis's clock (the
    client knows it from an earlier call)."""
    with throwaway_redis_server() as server:
        client = server.client()
        spin = _engine(server, "hot-schedule")
        spin.schedule("noop", 0)  # loads the script and learns Redis's clock
        client.config_resetstat()
        for i in range(20):
            spin.schedule("noop", i)
        assert _commands(client) == {"evalsha": 20, "set": 20, "hsetnx": 20, "rpush": 20}


def test_the_queued_time_is_redis_time_whatever_the_clients_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client whose clock is an hour ahead still records Redis's time as the queued time:
    it keeps the offset the first call measured, not its own clock."""
    # This host's wall clock as the client's modules see it (other threads keep the real one).
    ahead = SimpleNamespace(time=lambda: time.time() + 3600, monotonic=time.monotonic)
    monkeypatch.setattr(redis_clock, "time", ahead)
    monkeypatch.setattr(operations, "time", ahead)
    with throwaway_redis_server() as server:
        client = server.client()
        spin = _engine(server, "hot-clock")
        first = spin.schedule("noop", 0)  # reads Redis's clock
        client.config_resetstat()
        second = spin.schedule("noop", 1)  # does not: it estimates
        assert "time" not in _commands(client)
        seconds, micros = client.time()
        redis_now = datetime.fromtimestamp(seconds + micros / 1e6, UTC)
        for job in (first, second):
            info = spin.get_job(job.job_id)
            assert info is not None and info.created_at is not None
            assert abs((redis_now - info.created_at).total_seconds()) < 1.0


def test_a_fetch_with_little_room_sets_blocked_jobs_aside_in_batches() -> None:
    """Jobs of a task at its limit are parked by the fetch that meets them, many per command,
    even when the worker has room for one job only: the job of another task behind them is
    taken in the same call, and the call stays a few dozen commands."""
    with throwaway_redis_server() as server:
        client = server.client()
        tasks = Tasks()
        tasks.add(lambda i: None, name="limited", max_retries=3)
        tasks.add(lambda: None, name="other")
        spin = _engine(server, "hot-parking", tasks)
        spin.set_concurrency_limit("limited", 1)
        broker, names = spin.broker, ["limited", "other"]
        spin.schedule("limited", 0)
        assert len(broker.fetch("spinach", 1, 60_000, names, worker_id="w").jobs) == 1
        batch = Batch()
        for i in range(1, 501):
            batch.schedule("limited", i)
        batch.schedule("other")
        spin.schedule_batch(batch)
        client.config_resetstat()
        result = broker.fetch("spinach", 1, 60_000, names, worker_id="w", recover=False)
        inner = sum(calls for name, calls in _commands(client).items() if name != "evalsha")
        assert [decode(job.payload).task for job in result.jobs if job.payload] == ["other"]
        assert broker.concurrency("spinach", "limited") == (1, 1, 500)
        assert broker.queue_stats("spinach").ready == 0
        assert inner < 100  # one id per pass would take some 1,500
