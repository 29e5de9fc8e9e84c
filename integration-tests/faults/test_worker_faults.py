"""Workers killed, stopped and paused: no job is lost, at-most-once jobs never run twice.

Each test prints its figures (jobs, kills, reruns, recovery time); run with -s to see them.
"""

import random
import signal
import time

import pytest
from faults.harness import Fleet, Ledger, drained, wait_until
from redis_server import RedisServer

from spinach import Batch, Engine

pytestmark = pytest.mark.redis

LEASE = 1.0


def _schedule(spin: Engine, again: int, once: int, ms: int) -> tuple[set[str], set[str]]:
    batch = Batch()
    again_keys = {f"a{i}" for i in range(again)}
    once_keys = {f"o{i}" for i in range(once)}
    for i in range(max(again, once)):  # interleaved, so a worker holds both kinds at once
        if i < again:
            batch.schedule("again", f"a{i}", ms)
        if i < once:
            batch.schedule("once", f"o{i}", ms)
    spin.schedule_batch(batch)
    return again_keys, once_keys


def test_a_killed_workers_jobs_are_recovered_by_another_worker(
    server: RedisServer, fleet: Fleet, client_engine: Engine
) -> None:
    client = server.client()
    again_keys, once_keys = _schedule(client_engine, again=8, once=8, ms=2000)
    # Given a worker running four slow jobs
    doomed = fleet.start(THREADS="8", LEASE=str(LEASE))
    wait_until(lambda: client.scard("ledger") >= 8, 20, "eight jobs started")

    # When it is killed and another worker takes over
    doomed.kill()
    killed_at = time.monotonic()
    fleet.start(THREADS="16", LEASE=str(LEASE))
    wait_until(lambda: drained(client_engine), 30, "the queue to drain")

    # Then every retryable job ran to its end, and the at-most-once ones it held were reported
    ledger = Ledger(client)
    figures = ledger.check(again_keys, once_keys)
    assert figures["again_reruns"] == 4 and figures["once_reported_failed"] == 4
    first_rerun = [e for e in ledger.events if e[0] == "start" and e[3] != doomed.process.pid]
    assert first_rerun
    recovery = time.monotonic() - killed_at
    print(f"\nscenario 1: {figures}, recovered and drained {recovery:.1f}s after the kill")
    assert "was abandoned mid-run" in fleet.logs()


def test_workers_killed_again_and_again_lose_nothing(
    server: RedisServer, fleet: Fleet, client_engine: Engine
) -> None:
    client = server.client()
    again_keys, once_keys = _schedule(client_engine, again=2000, once=1000, ms=5)
    workers = [fleet.start(THREADS="4", LEASE=str(LEASE)) for _ in range(3)]
    rng = random.Random(7)
    kills = 0
    started = time.monotonic()
    while kills < 20 and not drained(client_engine):
        time.sleep(0.25)  # let them work a little between kills
        victim = rng.randrange(len(workers))
        workers[victim].kill()
        kills += 1
        workers[victim] = fleet.start(THREADS="4", LEASE=str(LEASE))
    wait_until(lambda: drained(client_engine), 60, "the queue to drain")
    figures = Ledger(client).check(again_keys, once_keys)
    print(f"\nscenario 2: {kills} kills, {figures}, {time.monotonic() - started:.1f}s")


def test_sigterm_hands_back_prefetched_jobs_and_finishes_running_ones(
    server: RedisServer, fleet: Fleet, client_engine: Engine
) -> None:
    client = server.client()
    again_keys, once_keys = _schedule(client_engine, again=200, once=200, ms=20)
    worker = fleet.start(THREADS="8", LEASE=str(LEASE))
    wait_until(lambda: client.scard("ledger") >= 40, 20, "jobs running")
    worker.signal(signal.SIGTERM)
    assert worker.process.wait(20) == 0
    stats = client_engine.broker.queue_stats("spinach")
    assert stats.running == 0
    ledger = Ledger(client)
    # Every job that started also ended: nothing was cut off, nothing left half-done.
    assert ledger.count("start", "once") == ledger.count("end", "once")
    assert ledger.count("start", "again") == ledger.count("end", "again")
    fleet.start(THREADS="8", LEASE=str(LEASE))
    wait_until(lambda: drained(client_engine), 30, "the queue to drain")
    figures = Ledger(client).check(again_keys, once_keys)
    assert figures["again_reruns"] == 0 and figures["once_reported_failed"] == 0
    print(f"\nscenario 3: {figures}")


def test_a_paused_worker_coming_back_changes_nothing(
    server: RedisServer, fleet: Fleet, client_engine: Engine
) -> None:
    client = server.client()
    again_keys, once_keys = _schedule(client_engine, again=1, once=1, ms=1500)
    # Given a worker running both jobs, paused (SIGSTOP) for longer than its lease
    zombie = fleet.start(THREADS="2", LEASE=str(LEASE))
    wait_until(lambda: client.scard("ledger") >= 2, 20, "both jobs started")
    zombie.signal(signal.SIGSTOP)
    paused_at = time.monotonic()
    rescuer = fleet.start(THREADS="2", LEASE=str(LEASE))
    wait_until(lambda: Ledger(client).count("end", "again")["a0"] >= 1, 20, "the rerun")
    wait_until(lambda: Ledger(client).count("failed", "once")["o0"] >= 1, 20, "the report")
    rescued_after = time.monotonic() - paused_at

    # When the zombie resumes and finishes its copies of the jobs
    zombie.signal(signal.SIGCONT)
    wait_until(lambda: Ledger(client).count("end", "once")["o0"] >= 1, 20, "the zombie's end")
    wait_until(
        lambda: "rejected" in zombie.log() or "Lost the lease" in zombie.log(), 20, "fencing"
    )

    # Then its late outcomes were rejected: the queue holds nothing, nothing ran a third time
    wait_until(lambda: drained(client_engine), 20, "the queue to drain")
    ledger = Ledger(client)
    figures = ledger.check(again_keys, once_keys)
    assert ledger.count("start", "again")["a0"] == 2
    assert ledger.count("start", "once")["o0"] == 1
    assert rescuer.process.poll() is None
    print(f"\nscenario 6: {figures}, taken over {rescued_after:.1f}s after the pause")
