"""A SIGKILLed worker never leaves a unique key behind: the job's end lets go of it."""

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
