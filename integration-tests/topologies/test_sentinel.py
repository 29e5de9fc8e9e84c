"""Redis behind Sentinel: workers and clients follow a failover by themselves."""

import time
from collections.abc import Iterator

import pytest
from helpers import Ledger, wait_for
from redis_topologies import SentinelSet

from spinach import Engine, RedisBroker, Tasks
from spinach.scripts import ReplicationTimeoutError

pytestmark = [pytest.mark.redis, pytest.mark.topology]


@pytest.fixture
def sentinels() -> Iterator[SentinelSet]:
    group = SentinelSet()
    try:
        group.start()
        yield group
    finally:
        group.cleanup()


def _engine(url: str, ledger: Ledger, **options: int) -> Engine:
    spin = Engine(RedisBroker.from_url(url, socket_timeout=5, **options), namespace="sentinel")
    tasks = Tasks()
    tasks.add(lambda i: ledger.add(i), name="job", max_retries=5)
    spin.attach_tasks(tasks)
    return spin


def test_workers_and_clients_follow_a_primary_failover(
    sentinels: SentinelSet, ledger: Ledger
) -> None:
    spin = _engine(sentinels.url, ledger, wait_for_replicas=1)
    spin.start_workers(number=2, block=False)
    for i in range(20):
        spin.schedule("job", i)  # each waits until the replica has it: the failover keeps it
    ledger.wait_for_count(20)

    # The primary dies; the sentinels promote the replica.
    old_primary = sentinels.primary.port
    sentinels.primary.crash()
    wait_for(
        lambda: (
            sentinels.sentinels[0].client().sentinel_get_master_addr_by_name("mymaster")[1]
            != old_primary
        ),
        timeout=30,
        message="the failover",
    )
    failover_done = time.monotonic()
    client = _engine(sentinels.url, ledger)
    for i in range(20, 40):
        client.schedule("job", i)
    wait_for(lambda: set(ledger.entries) >= set(range(40)), timeout=30, message="jobs after it")
    print(f"\nfailover: workers resumed {time.monotonic() - failover_done:.1f}s after promotion")
    spin.stop_workers()


def test_waiting_for_replicas_reports_when_none_confirms(
    sentinels: SentinelSet, ledger: Ledger
) -> None:
    sentinels.replica.stop()  # no replica left to confirm
    spin = _engine(sentinels.url, ledger, wait_for_replicas=1, wait_timeout_ms=200)
    with pytest.raises(ReplicationTimeoutError, match="0 of 1 replicas"):
        spin.schedule("job", 1)
    assert spin.broker.queue_stats("spinach").ready == 1  # enqueued on the primary all the same


def test_the_asyncio_client_sends_to_the_primary_and_waits_for_the_replica(
    sentinels: SentinelSet, ledger: Ledger
) -> None:
    import asyncio

    from spinach.aio import AsyncEngine, AsyncRedisBroker
    from spinach.keys import queue_keys

    spin = _engine(sentinels.url, ledger)

    async def send() -> None:
        broker = AsyncRedisBroker.from_url(sentinels.url, socket_timeout=5, wait_for_replicas=1)
        aspin = AsyncEngine(spin, broker)
        for i in range(5):
            await aspin.schedule("job", i)  # each returns once the replica has it
        await aspin.close()  # the sentinels' connections too: no socket is left open

    asyncio.run(send())
    replica = sentinels.replica.client()
    assert replica.llen(queue_keys("sentinel", "spinach").ready) == 5
    replica.close()
    spin.start_workers(number=2, block=True, stop_when_queue_empty=True)
    assert sorted(ledger.entries) == [0, 1, 2, 3, 4]
    spin.broker.close()
