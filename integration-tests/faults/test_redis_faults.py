"""Redis restarted, disconnected, full, and hosts with a wrong clock."""

import itertools
import threading
import time
from datetime import timedelta

import pytest
import redis
from faults.harness import Fleet, Ledger, drained, wait_until
from helpers import job_records
from redis_server import RedisServer

from spinach import Batch, Engine, RedisBroker, Tasks
from spinach.exc import BrokerConnectionError, BrokerFullError
from spinach.keys import queue_keys

pytestmark = pytest.mark.redis


@pytest.mark.aof
def test_every_acknowledged_enqueue_survives_a_redis_crash_and_workers_resume(
    server: RedisServer, fleet: Fleet, client_engine: Engine
) -> None:
    client = server.client()
    acknowledged: dict[str, set[str]] = {"again": set(), "once": set()}
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set() and i < 600:
            task = "again" if i % 2 else "once"
            key = f"{task[0]}{i}"
            try:
                client_engine.schedule(task, key, 2)
            except BrokerConnectionError:
                pass  # not acknowledged: the caller knows it may have to send it again
            else:
                acknowledged[task].add(key)
            i += 1

    fleet.start(THREADS="4", LEASE="1.0")
    fleet.start(THREADS="4", LEASE="1.0")
    # Up means registered by their heartbeat, not merely imported: a worker still starting when
    # Redis dies must wait for it too, but that is another test's subject.
    wait_until(
        lambda: len(client_engine.broker.live_workers("spinach")) == 2, 30, "both workers up"
    )
    producer = threading.Thread(target=produce)
    producer.start()
    wait_until(lambda: Ledger(client).count("end", "again"), 20, "jobs processed")

    # Redis dies (SIGKILL: AOF with appendfsync always is all that survives) and comes back.
    server.crash()
    time.sleep(0.5)  # the outage itself: clients see connection errors meanwhile
    server.start()
    producer.join(60)
    stop.set()
    wait_until(
        lambda: drained(client_engine),
        40,
        "the queue to drain after the restart",
        diagnose=lambda: f"{client_engine.broker.queue_stats('spinach')}\n{fleet.logs()[-3000:]}",
    )

    figures = Ledger(client).check(acknowledged["again"], acknowledged["once"])
    print(f"\nscenario 4: {figures}")
    assert all(w.process.poll() is None for w in fleet.workers), "a worker died with Redis"


def test_workers_survive_their_connections_being_killed_in_a_loop(
    server: RedisServer, fleet: Fleet, client_engine: Engine
) -> None:
    client = server.client()
    batch = Batch()
    again_keys = {f"a{i}" for i in range(1500)}
    once_keys = {f"o{i}" for i in range(500)}
    for key in sorted(again_keys):
        batch.schedule("again", key, 2)
    for key in sorted(once_keys):
        batch.schedule("once", key, 2)
    client_engine.schedule_batch(batch)
    fleet.start(THREADS="4", LEASE="1.0")
    fleet.start(THREADS="4", LEASE="1.0")
    # Both up (registered by their heartbeat) before the first kill: a worker still importing
    # fault_app.py, whose own ledger client is not retried, would die of it (seen under load).
    wait_until(
        lambda: len(client_engine.broker.live_workers("spinach")) == 2, 30, "both workers up"
    )
    wait_until(lambda: client.scard("ledger") > 0, 20, "processing")

    killed = 0
    admin = server.client()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        killed += int(admin.client_kill_filter(_type="normal", skipme=True))
        time.sleep(0.1)  # the fault's own rhythm: a disconnection every 100 ms

    wait_until(lambda: drained(client_engine), 60, "the queue to drain")
    figures = Ledger(client).check(again_keys, once_keys)
    print(f"\nscenario 5: {killed} connections killed over 3 s, {figures}")
    assert killed > 20
    assert all(w.process.poll() is None for w in fleet.workers), fleet.logs()[-4000:]


def test_workers_resume_by_themselves_after_redis_was_unreachable(
    server: RedisServer, fleet: Fleet, client_engine: Engine
) -> None:
    client = server.client()
    fleet.start(THREADS="2", LEASE="1.0")
    client_engine.schedule("again", "before", 0)
    wait_until(lambda: Ledger(client).count("end", "again")["before"] == 1, 20, "a first job")

    server.stop()
    time.sleep(3)  # Redis unreachable for 3 s: workers back off, no tight loop
    server.start()
    client.close()
    client_engine.schedule("again", "after", 0)
    wait_until(lambda: Ledger(server.client()).count("end", "again")["after"] == 1, 30, "resumed")
    log = fleet.logs()
    retries = log.count("Could not fetch jobs") + log.count("Lost Redis while waiting")
    print(f"\noutage: {retries} reconnection attempts in 3 s")
    assert 1 <= retries <= 30, "reconnections back off exponentially"


def test_a_full_redis_refuses_new_jobs_cleanly(server: RedisServer) -> None:
    client = server.client()
    spin = Engine(RedisBroker.from_url(server.url), namespace="full")
    tasks = Tasks()
    tasks.add(lambda data: None, name="big")
    spin.attach_tasks(tasks)
    spin.schedule("big", "warm-up")
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", client.info("memory")["used_memory"] + 2_000_000)
    sent = 0
    with pytest.raises(BrokerFullError, match="out of memory"):
        for _ in range(1000):
            spin.schedule("big", "x" * 100_000)
            sent += 1
    keys = queue_keys("full", "spinach")
    # Nothing half-written: every stored envelope is queued, every queued id has its envelope.
    assert client.llen(keys.ready) == len(job_records(client, "full")) == sent + 1


def test_a_worker_host_with_a_wrong_clock_changes_no_outcome(
    server: RedisServer, fleet: Fleet, client_engine: Engine
) -> None:
    client = server.client()
    fleet.start(THREADS="2", LEASE="1.0", CLOCK_OFFSET="3600", PERIODIC_MS="200")
    fleet.start(THREADS="2", LEASE="1.0", CLOCK_OFFSET="-3600", PERIODIC_MS="200")
    wait_until(lambda: client.hlen("clocks") == 2, 20, "both workers up")
    again_keys = {f"a{i}" for i in range(50)}
    for key in sorted(again_keys):
        client_engine.schedule("again", key, 1)
    wait_until(lambda: drained(client_engine), 30, "the first jobs")  # both workers are up
    seconds, _ = client.time()
    skews = sorted(float(v) - seconds for v in client.hvals("clocks"))
    assert skews[0] < -3500 and skews[1] > 3500, "the workers' clocks really are off"

    for i in range(10):
        seconds, micros = client.time()
        delay = timedelta(seconds=0.2 + i * 0.05)
        client_engine.schedule_in(
            "stamp", delay, f"s{i}", seconds + micros / 1e6 + delay.total_seconds()
        )
    wait_until(lambda: client.llen("stamps") == 10 and drained(client_engine), 30, "delayed jobs")
    lateness = []
    for raw in client.lrange("stamps", 0, -1):
        _, due, started = raw.decode().split(":")
        lateness.append(float(started) - float(due))
    figures = Ledger(client).check(again_keys, set())
    print(f"\nscenario 7: clocks off by +-1h, {figures}, delayed jobs late by "
          f"{min(lateness) * 1000:.1f} to {max(lateness) * 1000:.1f} ms")  # fmt: skip
    assert min(lateness) >= 0 and max(lateness) < 0.2
    assert figures["again_reruns"] == 0
    # The periodic task ticks every 200 ms of Redis time, once per tick, whatever the clocks.
    beats = sorted(float(raw.decode().split(":")[0]) for raw in client.smembers("beats"))
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    assert len(beats) >= 3 and all(0.15 < gap < 0.3 for gap in gaps), gaps


def test_no_redis_client_call_blocks_a_worker_forever(server: RedisServer) -> None:
    # A client whose timeout is shorter than the idle wait is clamped, never stuck.
    broker = RedisBroker(redis.Redis.from_url(server.url, socket_timeout=1.5))
    assert broker.max_block_seconds == pytest.approx(0.5)


class ReplyLosingRedis(redis.Redis):
    """A real client whose first EVALSHA reply is lost after Redis executed the call."""

    lost = 0

    def parse_response(self, connection, command_name, **options):  # type: ignore[no-untyped-def]
        response = super().parse_response(connection, command_name, **options)
        if command_name == "EVALSHA" and not ReplyLosingRedis.lost:
            ReplyLosingRedis.lost += 1
            connection.disconnect()
            raise redis.ConnectionError("reply lost (injected)")
        return response


def test_an_enqueue_whose_reply_was_lost_is_applied_once(server: RedisServer) -> None:
    client = ReplyLosingRedis(host="127.0.0.1", port=server.port, retry=None)
    spin = Engine(RedisBroker(client), namespace="lost-reply")
    tasks = Tasks()
    tasks.add(lambda i: None, name="job")
    spin.attach_tasks(tasks)
    batch = Batch()
    for i in range(100):
        batch.schedule("job", i)
    spin.schedule_batch(batch)  # executed, reply lost, sent again with the same token
    assert ReplyLosingRedis.lost == 1
    assert spin.broker.queue_stats("spinach").ready == 100
