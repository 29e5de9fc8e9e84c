"""Redis Cluster: queues spread over the shards, and a slot migration under load loses nothing."""

import threading
import time

import pytest
from helpers import Ledger, wait_for
from redis.cluster import key_slot
from redis_topologies import RedisClusterSet

from spinach import Batch, Engine, RedisBroker, Tasks
from spinach.keys import queue_keys

pytestmark = [pytest.mark.redis, pytest.mark.cluster, pytest.mark.topology]


def _slot_owners(cluster: RedisClusterSet) -> dict[int, int]:
    """slot -> port of the primary serving it."""
    owners: dict[int, int] = {}
    for first, last, primary, *_ in cluster.nodes[0].client().execute_command("CLUSTER SLOTS"):
        for slot in range(first, last + 1):
            owners[slot] = int(primary[1])
    return owners


def test_the_keys_of_a_queue_share_a_slot_and_queues_spread_over_the_shards(
    redis_cluster: RedisClusterSet,
) -> None:
    owners = _slot_owners(redis_cluster)
    placement: dict[str, int] = {}
    for n in range(20):
        keys = queue_keys("shop", f"queue-{n}")
        names = (keys.schema, keys.ready, keys.jobs, keys.running, keys.wake, keys.stats)
        slots = {key_slot(key.encode()) for key in names}
        assert len(slots) == 1
        placement[f"queue-{n}"] = owners[slots.pop()]
    per_node = {
        port: sum(1 for p in placement.values() if p == port) for port in set(owners.values())
    }
    print(f"\n20 queues of namespace shop over 3 primaries: {sorted(per_node.values())}")
    assert len(per_node) == 3 and min(per_node.values()) >= 3


def _migrate_slot(cluster: RedisClusterSet, slot: int) -> None:
    """Move `slot` to another primary, key by key, as `redis-cli --cluster reshard` does."""
    owners = _slot_owners(cluster)
    source = next(n for n in cluster.nodes if n.port == owners[slot])
    target = next(n for n in cluster.nodes if n.port != owners[slot])
    src, dst = source.client(), target.client()
    src_id, dst_id = src.execute_command("CLUSTER MYID"), dst.execute_command("CLUSTER MYID")
    dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
    while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 10):
        src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
        time.sleep(0.01)  # let traffic run between batches: the migration is meant to be slow
    for node in cluster.nodes:
        node.client().execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)


def test_a_slot_migrating_while_jobs_flow_loses_no_job_and_stops_no_worker(
    redis_cluster: RedisClusterSet, ledger: Ledger
) -> None:
    spin = Engine(RedisBroker.from_url(redis_cluster.url), namespace="migrating")
    tasks = Tasks()
    tasks.add(lambda i: ledger.add(i), name="job", max_retries=10)
    spin.attach_tasks(tasks)
    spin.start_workers(number=4, block=False)
    sent: list[int] = []
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set() and i < 3000:
            batch = Batch()
            for j in range(i, i + 20):
                batch.schedule("job", j)
            spin.schedule_batch(batch)
            sent.extend(range(i, i + 20))
            i += 20

    producer = threading.Thread(target=produce)
    producer.start()
    wait_for(lambda: len(ledger) > 200, message="jobs flowing")
    _migrate_slot(redis_cluster, key_slot(queue_keys("migrating", "spinach").ready.encode()))
    producer.join(60)
    stop.set()
    wait_for(lambda: set(ledger.entries) >= set(sent), timeout=60, message="every job")
    spin.stop_workers()
    spin.broker.close()
    print(f"\nslot migration under load: {len(sent)} jobs sent, {len(ledger)} runs")
    assert set(ledger.entries) == set(sent)
