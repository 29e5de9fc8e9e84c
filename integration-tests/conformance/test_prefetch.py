"""Prefetch: jobs fetched ahead of the threads wait here under lease, and a stop hands them back;
by default, as many as the threads finish within the horizon (short jobs only)."""

import threading
import time
from typing import Any

import pytest
import redis
from helpers import Ledger, wait_for

from spinach import Batch, Engine, Tasks


def _holding_tasks(ledger: Ledger, release: threading.Event) -> Tasks:
    tasks = Tasks()

    @tasks.task(name="hold", max_retries=1)
    def hold(n: int) -> None:
        ledger.add(("started", n))
        release.wait(10)
        ledger.add(("done", n))

    return tasks


@pytest.mark.parametrize("prefetch", [0, 2])
def test_a_worker_holds_its_threads_jobs_plus_the_prefetched_ones_and_no_more(
    spin: Engine, ledger: Ledger, prefetch: int
) -> None:
    release = threading.Event()
    spin.attach_tasks(_holding_tasks(ledger, release))
    for n in range(5):
        spin.schedule("hold", n)
    spin.start_workers(number=1, block=False, prefetch=prefetch)
    try:
        wait_for(lambda: ledger.entries == [("started", 0)], message="the first job started")
        expected = (1 + prefetch, 4 - prefetch)
        wait_for(
            lambda: (
                (lambda s: (s.running, s.ready))(spin.broker.queue_stats("spinach")) == expected
            ),
            message=f"(running, ready) == {expected}",
        )
        assert ledger.entries == [("started", 0)]  # prefetched jobs wait for the thread
    finally:
        release.set()
    wait_for(lambda: len(ledger.entries) == 10, message="every job ran")
    assert [e[1] for e in ledger.entries if e[0] == "started"] == [0, 1, 2, 3, 4]  # in order


def test_a_stop_hands_the_prefetched_jobs_back_in_order_and_they_run_once(
    spin: Engine, ledger: Ledger
) -> None:
    release = threading.Event()
    spin.attach_tasks(_holding_tasks(ledger, release))
    for n in range(4):
        spin.schedule("hold", n)
    spin.start_workers(number=1, block=False, prefetch=2)
    wait_for(lambda: ledger.entries == [("started", 0)], message="the first job started")
    wait_for(lambda: spin.broker.queue_stats("spinach").running == 3, message="two prefetched")
    stopping = threading.Thread(target=spin.stop_workers)
    stopping.start()  # waits for the running job; the prefetched ones go back at once
    wait_for(lambda: spin.broker.queue_stats("spinach").ready == 3, message="handed back")
    release.set()
    stopping.join(10)
    assert not stopping.is_alive()
    stats = spin.broker.queue_stats("spinach")
    assert (stats.ready, stats.running) == (3, 0)
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    started = [e[1] for e in ledger.entries if e[0] == "started"]
    assert started == [0, 1, 2, 3]  # each once, in the order they were sent


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_a_prefetch_that_is_not_a_whole_number_is_refused(spin: Engine, bad: object) -> None:
    with pytest.raises(ValueError, match=r"prefetch must be None \(auto\) or an int >= 0"):
        spin.start_workers(number=1, block=False, prefetch=bad)  # type: ignore[arg-type]


def _asked_for(spin: Engine) -> list[int]:
    """Record how many jobs each fetch of the worker asks for."""
    asked: list[int] = []
    real = spin.broker.fetch

    def fetch(queue: str, max_jobs: int, *args: Any, **kwargs: Any) -> Any:
        asked.append(max_jobs)
        return real(queue, max_jobs, *args, **kwargs)

    spin.broker.fetch = fetch  # type: ignore[method-assign]
    return asked


def test_by_default_short_jobs_are_fetched_ahead_of_the_threads(
    spin: Engine, ledger: Ledger
) -> None:
    tasks = Tasks()
    tasks.add(lambda n: ledger.add(n), name="quick")
    spin.attach_tasks(tasks)
    batch = Batch()
    for n in range(300):
        batch.schedule("quick", n)
    spin.schedule_batch(batch)
    asked = _asked_for(spin)
    spin.start_workers(number=2, block=True, stop_when_queue_empty=True)
    assert sorted(ledger.entries) == list(range(300))
    assert asked[0] == 2  # no run time known yet: nothing fetched ahead
    assert max(asked) > 2  # then runs far shorter than the horizon: fetched ahead


def test_by_default_jobs_longer_than_the_horizon_are_never_fetched_ahead(
    spin: Engine, ledger: Ledger
) -> None:
    tasks = Tasks()
    tasks.add(lambda n: (time.sleep(0.05), ledger.add(n)), name="slow")
    spin.attach_tasks(tasks)
    for n in range(5):
        spin.schedule("slow", n)
    asked = _asked_for(spin)
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert sorted(ledger.entries) == list(range(5))
    assert max(asked) == 1, asked


def _short_then_long(spin: Engine, ledger: Ledger, release: threading.Event) -> None:
    """40 short jobs, then 6 long ones that wait for `release`."""
    tasks = Tasks()
    tasks.add(lambda n: ledger.add(("quick", n)), name="quick")

    @tasks.task(name="long")
    def long(n: int) -> None:
        ledger.add(("long", n))
        release.wait(10)

    spin.attach_tasks(tasks)
    batch = Batch()
    for n in range(40):
        batch.schedule("quick", n)
    for n in range(6):
        batch.schedule("long", n)
    spin.schedule_batch(batch)


def _the_long_jobs_fetched_ahead_go_back(
    spin: Engine, ledger: Ledger, release: threading.Event
) -> None:
    try:
        wait_for(lambda: ("long", 0) in ledger.entries, message="the first long job started")
        wait_for(
            lambda: (lambda s: (s.running, s.ready))(spin.broker.queue_stats("spinach")) == (1, 5),
            message="the long jobs fetched ahead handed back",
        )
    finally:
        release.set()
    wait_for(lambda: len(ledger.entries) == 46, message="every job ran")
    longs = [e[1] for e in ledger.entries if e[0] == "long"]
    assert longs == [0, 1, 2, 3, 4, 5]  # each once, in order


@pytest.mark.parametrize("drain", [False, True], ids=["serve", "drain"])
def test_by_default_the_jobs_fetched_ahead_go_back_once_a_run_grows_long(
    spin: Engine, ledger: Ledger, drain: bool
) -> None:
    """Short jobs first, so the worker fetches ahead; then long ones: the long one it runs
    holds its only thread, and the long jobs waiting for it go back to the queue, where another
    worker (or a queue before this one) can take them; also while draining the queue."""
    release = threading.Event()
    _short_then_long(spin, ledger, release)
    spin.start_workers(number=1, block=False, stop_when_queue_empty=drain)
    _the_long_jobs_fetched_ahead_go_back(spin, ledger, release)


def test_the_jobs_fetched_ahead_go_back_through_a_lost_connection(
    spin: Engine, ledger: Ledger
) -> None:
    """Their leases are still good: the hand-back is sent again, not left to lease recovery
    (which would fail the at-most-once ones among them without running them)."""
    release = threading.Event()
    _short_then_long(spin, ledger, release)
    real = spin.broker.release
    failures = [redis.ConnectionError("connection lost (test)")]

    def release_once_lost(queue: str, leases: Any) -> int:
        if failures:
            raise failures.pop()
        return real(queue, leases)

    spin.broker.release = release_once_lost  # type: ignore[method-assign]
    spin.start_workers(number=1, block=False)
    _the_long_jobs_fetched_ahead_go_back(spin, ledger, release)
    assert not failures  # the connection was lost once, and the jobs went back all the same
