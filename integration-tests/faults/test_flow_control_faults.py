"""A SIGKILLed worker leaves no unique key, rate-limit turn or queue-limit slot behind."""

import pytest
from faults.harness import Fleet, Ledger, drained, wait_until
from redis_server import RedisServer

from spinach import Engine
from spinach.keys import queue_keys

pytestmark = pytest.mark.redis

LEASE = 1.0


def test_the_keys_of_jobs_a_killed_worker_held_are_let_go_when_the_jobs_end(
    server: RedisServer, fleet: Fleet, client_engine: Engine
) -> None:
    client = server.client()
    unique = queue_keys(client_engine.namespace, "spinach").unique
    # Given a worker running a retryable and an at-most-once job, each holding a unique key
    retried = client_engine.schedule_with("again", ("u-again", 2000), unique_key="k-again")
    once = client_engine.schedule_with("once", ("u-once", 2000), unique_key="k-once")
    doomed = fleet.start(THREADS="4", LEASE=str(LEASE))
    wait_until(lambda: client.scard("ledger") >= 2, 20, "both jobs started")
    assert client.hlen(unique) == 2

    # When it is SIGKILLed mid-run, the keys stay held while the jobs are still live
    doomed.kill()
    assert client_engine.schedule_with("again", ("u-again",), unique_key="k-again").duplicate
    assert client_engine.schedule_with("once", ("u-once",), unique_key="k-once").duplicate

    # and once another worker recovered them (one rerun, one reported failed), both are free
    fleet.start(THREADS="4", LEASE=str(LEASE))
    wait_until(lambda: drained(client_engine), 30, "the queue to drain")
    figures = Ledger(client).check({"u-again"}, {"u-once"})
    assert figures["again_reruns"] == 1 and figures["once_reported_failed"] == 1
    assert client.hlen(unique) == 0
    for task, key in (("again", "k-again"), ("once", "k-once")):
        fresh = client_engine.schedule_with(task, (f"u-{task}-2",), unique_key=key)
        assert not fresh.duplicate and fresh.job_id not in (retried.job_id, once.job_id)


def test_a_killed_worker_leaves_no_rate_limit_turn_held(
    server: RedisServer, fleet: Fleet, client_engine: Engine
) -> None:
    """A rate limit holds nothing while a job runs: the killed run's start stays counted, the
    recovered job waits for a new turn, and the limit's state is one time per key, past soon."""
    client = server.client()
    rates = queue_keys(client_engine.namespace, "spinach").rates
    client_engine.schedule("paced", "p-1", 2000)
    doomed = fleet.start(THREADS="4", LEASE=str(LEASE))
    wait_until(lambda: Ledger(client).count("start", "paced")["p-1"] == 1, 20, "p-1 started")
    doomed.kill()
    client_engine.schedule("paced", "p-2", 0)  # sent while the killed worker's lease runs
    fleet.start(THREADS="4", LEASE=str(LEASE))
    wait_until(lambda: drained(client_engine), 30, "the queue to drain")
    ended = Ledger(client).count("end", "paced")
    assert ended["p-1"] == 1 and ended["p-2"] == 1  # the killed run was run again, once
    assert client.zcard(rates) <= 1  # one key's time, no token per job or per worker
    client_engine.broker.expire_records("spinach")
    seconds, micros = client.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    times = [score for _, score in client.zrange(rates, 0, -1, withscores=True)]
    assert all(score <= now_ms + 500 for score in times)  # at most one interval ahead


def test_a_killed_worker_leaves_no_queue_limit_slot_held(
    server: RedisServer, fleet: Fleet, client_engine: Engine
) -> None:
    """The queue-wide limit counts the queue's leases: a dead worker's slot frees with its lease."""
    client = server.client()
    client_engine.set_queue_limit(1)
    client_engine.schedule("again", "q-1", 2000)
    doomed = fleet.start(THREADS="4", LEASE=str(LEASE))
    wait_until(lambda: Ledger(client).count("start", "again")["q-1"] == 1, 20, "q-1 started")
    doomed.kill()
    client_engine.schedule("again", "q-2", 0)
    fleet.start(THREADS="4", LEASE=str(LEASE))
    wait_until(lambda: drained(client_engine), 30, "the queue to drain")
    ended = Ledger(client).count("end", "again")
    assert ended["q-1"] == 1 and ended["q-2"] == 1
    assert client_engine.broker.queue_stats("spinach").running == 0
