"""Several worker processes: exactly one job per periodic tick, and limits that hold."""

import itertools

import pytest
import redis
from faults.harness import Fleet, wait_until
from redis_server import RedisServer

pytestmark = pytest.mark.redis


def _now(client: "redis.Redis") -> float:
    seconds, micros = client.time()
    return float(seconds + micros / 1e6)


def _beats(client: "redis.Redis") -> list[tuple[float, str]]:
    entries = (raw.decode().split(":") for raw in client.smembers("beats"))
    return sorted((float(at), pid) for at, pid in entries)


def test_three_worker_processes_create_one_job_per_tick(server: RedisServer, fleet: Fleet) -> None:
    client = server.client()
    for _ in range(3):
        fleet.start(THREADS="2", PERIODIC_MS="1000")
    wait_until(lambda: client.hlen("clocks") == 3, 20, "three workers up")
    wait_until(lambda: client.scard("beats") >= 1, 10, "the first tick")
    first = _beats(client)[0][0]
    # Ten seconds of running, on Redis's clock
    wait_until(lambda: _now(client) >= first + 10.5, 15, "ten seconds")
    runs = [at for at, _ in _beats(client) if at < first + 10.0]
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    pids = {pid for _, pid in _beats(client)}
    print(f"\nperiodic: {len(runs)} runs in 10 s by {len(pids)} processes, gaps "
          f"{min(gaps):.3f} to {max(gaps):.3f} s")  # fmt: skip
    assert 9 <= len(runs) <= 11, runs
    assert min(gaps) > 0.9, "two runs for one tick"


def test_a_limit_holds_across_worker_processes(server: RedisServer, fleet: Fleet) -> None:
    from spinach import Batch, Engine, RedisBroker, Tasks

    client = server.client()
    spin = Engine(RedisBroker.from_url(server.url), namespace="faults")
    tasks = Tasks()
    tasks.add(lambda key, ms=0: None, name="limited", max_retries=10, max_concurrency=2)
    spin.attach_tasks(tasks)
    for _ in range(3):
        fleet.start(THREADS="4", LIMIT="2")
    wait_until(lambda: client.hlen("clocks") == 3, 20, "three workers up")
    batch = Batch()
    for i in range(60):
        batch.schedule("limited", f"l{i}", 30)
    spin.schedule_batch(batch)
    wait_until(lambda: client.scard("spans") == 60, 30, "all the jobs")
    events = []
    for raw in client.smembers("spans"):
        _, start, end, _pid = raw.decode().split(":")
        events += [(float(start), 1), (float(end), -1)]
    running = peak = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        running += step
        peak = max(peak, running)
    pids = {raw.decode().split(":")[3] for raw in client.smembers("spans")}
    print(f"\nlimit 2: 60 jobs over {len(pids)} processes, peak overlap {peak}")
    assert peak == 2
