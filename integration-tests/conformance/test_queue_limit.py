"""A queue-wide limit: at most N jobs of a queue run at once, across every worker."""

import threading
import time
from datetime import timedelta

import pytest
from helpers import Ledger, Overlap, wait_for

from spinach import Batch, Engine, Tasks


def _tasks(ledger: Ledger, overlap: Overlap, hold: threading.Event | None = None) -> Tasks:
    tasks = Tasks()

    @tasks.task(name="a")
    def a(i: int) -> None:
        with overlap:
            ledger.add(("a", i))
            if hold is not None:
                hold.wait(10)
            time.sleep(0.005)  # the job's own work, so that runs can overlap

    @tasks.task(name="b")
    def b(i: int) -> None:
        with overlap:
            ledger.add(("b", i))
            time.sleep(0.005)

    return tasks


def test_the_limit_holds_across_workers_and_tasks(make_broker, namespace: str) -> None:
    ledger, overlap = Ledger(), Overlap()
    engines = []
    for _ in range(3):
        engine = Engine(make_broker(), namespace=namespace)
        engine.attach_tasks(_tasks(ledger, overlap))
        engines.append(engine)
    assert engines[0].set_queue_limit(2) is None  # no limit before
    batch = Batch()
    for i in range(40):
        batch.schedule("a", i)
        batch.schedule("b", i)
    engines[0].schedule_batch(batch)
    for engine in engines:
        engine.start_workers(number=4, block=False)
    ledger.wait_for_count(80)
    for engine in engines:
        engine.stop_workers()
    assert overlap.peak == 2
    assert engines[0].status("spinach").queues[0].max_running == 2


def test_a_job_waits_for_a_free_slot_and_starts_when_one_frees(
    spin: Engine, ledger: Ledger
) -> None:
    hold, overlap = threading.Event(), Overlap()
    spin.attach_tasks(_tasks(ledger, overlap, hold))
    spin.set_queue_limit(1)
    spin.schedule("a", 1)
    second = spin.schedule("b", 2)
    spin.start_workers(number=4, block=False)
    ledger.wait_for_count(1)  # a runs and holds the only slot
    info = spin.get_job(second.job_id)
    assert info is not None and info.waiting_for == "a free slot of its queue's running limit"
    # Only a fetch promotes due jobs: once this one is ready, a fetch ran at the limit.
    spin.schedule_in("b", timedelta(milliseconds=50), 3)
    wait_for(lambda: spin.broker.queue_stats("spinach").delayed == 0, message="a fetch")
    assert ledger.entries == [("a", 1)]
    hold.set()
    ledger.wait_for_count(3)  # the freed slot wakes a worker at once
    spin.stop_workers()
    assert overlap.peak == 1


def test_raising_or_clearing_the_limit_lets_waiting_jobs_start(
    spin: Engine, ledger: Ledger
) -> None:
    hold, overlap = threading.Event(), Overlap()
    spin.attach_tasks(_tasks(ledger, overlap, hold))
    spin.set_queue_limit(1)
    for i in range(3):
        spin.schedule("a", i)
    spin.start_workers(number=4, block=False)
    ledger.wait_for_count(1)
    assert spin.set_queue_limit(2) == 1
    ledger.wait_for_count(2)
    assert spin.set_queue_limit(None) == 2
    ledger.wait_for_count(3)
    assert overlap.peak == 3
    hold.set()
    spin.stop_workers()
    assert spin.status("spinach").queues[0].max_running is None


def test_a_bad_limit_is_refused(spin: Engine) -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises((ValueError, TypeError), match="queue limit"):
            spin.set_queue_limit(bad)  # type: ignore[arg-type]
