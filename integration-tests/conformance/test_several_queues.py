"""Several queues per worker: one executor shared in strict order or by weight."""

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from helpers import Ledger, wait_for

from spinach import Engine, Tasks
from spinach.exc import InvalidNameError


def _recording_tasks(
    ledger: Ledger, *queues: str, hold: threading.Event | None = None, pause: float = 0.0
) -> Tasks:
    """A task per queue, named after it, that records (queue, n) when it starts (then waits for
    `hold`, or `pause` seconds)."""
    tasks = Tasks()
    for queue in queues:

        def run(n: int, queue: str = queue) -> None:
            ledger.add((queue, n))
            if hold is not None:
                hold.wait(10)
            time.sleep(pause)

        tasks.add(run, name=queue, queue=queue, max_retries=1)
    return tasks


def _count_fetches(spin: Engine) -> Counter[str]:
    """Count the broker's fetch calls per queue, from now on."""
    fetches: Counter[str] = Counter()
    fetch = spin.broker.fetch

    def counting(queue: str, *args: Any, **kwargs: Any) -> Any:
        fetches[queue] += 1
        return fetch(queue, *args, **kwargs)

    spin.broker.fetch = counting  # type: ignore[method-assign]
    return fetches


def test_one_worker_runs_the_jobs_of_two_queues_and_is_registered_on_each(
    spin: Engine, ledger: Ledger
) -> None:
    spin.attach_tasks(_recording_tasks(ledger, "mail", "images"))
    spin.start_workers(number=2, queue=["mail", "images"], block=False)
    for n in range(5):
        spin.schedule("mail", n)
        spin.schedule("images", n)
    ledger.wait_for_count(10)
    assert sorted(ledger.entries) == sorted([(q, n) for q in ("mail", "images") for n in range(5)])
    mail, images = spin.broker.live_workers("mail"), spin.broker.live_workers("images")
    assert [w.id for w in mail] == [w.id for w in images]  # one worker, on both queues
    assert (mail[0].queue, images[0].queue) == ("mail", "images")
    spin.stop_workers()
    assert not spin.broker.live_workers("mail") and not spin.broker.live_workers("images")
    assert not [t for t in threading.enumerate() if t.name.startswith(spin.namespace)]


def test_in_strict_order_every_high_job_starts_before_any_default_job(
    spin: Engine, ledger: Ledger
) -> None:
    spin.attach_tasks(_recording_tasks(ledger, "high", "default"))
    for n in range(10):
        spin.schedule("default", n)
        spin.schedule("high", n)
    spin.start_workers(number=1, queue=["high", "default"], stop_when_queue_empty=True)
    started = [queue for queue, _ in ledger.entries]
    assert started == ["high"] * 10 + ["default"] * 10


def test_by_weight_busy_queues_share_the_threads_in_proportion(
    spin: Engine, ledger: Ledger
) -> None:
    spin.attach_tasks(_recording_tasks(ledger, "high", "default"))
    for n in range(120):
        spin.schedule("high", n)
        spin.schedule("default", n)
    spin.start_workers(number=4, queue=["high:3", "default:1"], block=False)
    ledger.wait_for_count(80)
    spin.stop_workers()
    counts = Counter(queue for queue, _ in ledger.entries[:80])
    # 3:1 would be 60:20; both progress, and high clearly gets more (a loose bound).
    assert counts["default"] >= 8, counts
    assert counts["high"] >= 2 * counts["default"], counts


def test_a_busy_weighted_queue_does_not_starve_a_lighter_one(spin: Engine, ledger: Ledger) -> None:
    # Each job takes 2 ms: the backlog lasts longer than the rare job's wake-up and fetch (a
    # backlog of no-op jobs drains in a few round trips, before any other queue could run).
    spin.attach_tasks(_recording_tasks(ledger, "bulk", "rare", pause=0.002))
    for n in range(100):
        spin.schedule("bulk", n)
    spin.start_workers(number=2, queue=[("bulk", 10), ("rare", 1)], block=False)
    ledger.wait_for_count(10)
    spin.schedule("rare", 0)
    wait_for(lambda: ("rare", 0) in ledger.entries, message="the rare job ran")
    spin.stop_workers()
    assert ledger.entries.index(("rare", 0)) < 100  # it did not wait for the bulk backlog


def test_an_idle_queue_costs_the_busy_one_no_fetch(spin: Engine, ledger: Ledger) -> None:
    spin.attach_tasks(_recording_tasks(ledger, "busy", "idle"))
    fetches = _count_fetches(spin)
    spin.start_workers(number=2, queue=["idle:1", "busy:1"], block=False)
    runtime = spin._runtime
    assert runtime is not None
    wait_for(
        lambda: all(lane.fetcher.last_fetch is not None for lane in runtime._lanes),
        message="the first fetch of each queue",
    )
    idle_before = fetches["idle"]
    for n in range(50):
        spin.schedule("busy", n)
    ledger.wait_for_count(50)
    assert fetches["idle"] == idle_before  # its fetcher slept on its own wake-up list
    assert fetches["busy"] >= 1
    spin.schedule("idle", 0)  # and it still wakes for its own jobs
    wait_for(lambda: ("idle", 0) in ledger.entries, message="the idle queue's job")
    spin.stop_workers()


def test_a_stop_hands_the_prefetched_jobs_of_every_queue_back(spin: Engine, ledger: Ledger) -> None:
    hold = threading.Event()
    spin.attach_tasks(_recording_tasks(ledger, "a", "b", hold=hold))
    for n in range(3):
        spin.schedule("a", n)
        spin.schedule("b", n)
    spin.start_workers(number=2, queue=["a:1", "b:1"], block=False, prefetch=2)
    stats = spin.broker.queue_stats

    def held(queue: str) -> int:
        return stats(queue).running

    wait_for(lambda: held("a") == 2 and held("b") == 2, message="two jobs held of each queue")
    ledger.wait_for_count(2)
    stopping = threading.Thread(target=spin.stop_workers)
    stopping.start()  # waits for the running jobs; the prefetched ones go back at once
    wait_for(lambda: held("a") + held("b") == 2, message="the prefetched jobs handed back")
    hold.set()
    stopping.join(10)
    assert not stopping.is_alive()
    ran = Counter(queue for queue, _ in ledger.entries)
    for queue in ("a", "b"):
        assert (stats(queue).ready, stats(queue).running) == (3 - ran[queue], 0)
    spin.start_workers(number=2, queue=["a", "b"], stop_when_queue_empty=True)
    assert sorted(ledger.entries) == sorted([(q, n) for q in ("a", "b") for n in range(3)])


def test_stop_when_queue_empty_waits_for_every_queue(spin: Engine, ledger: Ledger) -> None:
    spin.attach_tasks(_recording_tasks(ledger, "short", "long"))
    spin.schedule("short", 0)
    for n in range(20):
        spin.schedule("long", n)
    spin.start_workers(number=1, queue=["short:1", "long:1"], stop_when_queue_empty=True)
    assert len(ledger.entries) == 21
    assert spin.broker.queue_stats("long").ready == 0


@pytest.mark.parametrize(
    ("queue", "error", "match"),
    [
        (["high:5", "default"], ValueError, "every queue a weight"),
        (["high:0", "default:1"], ValueError, "whole number >= 1"),
        ([("high", -1)], ValueError, "whole number >= 1"),
        ([("high", True)], ValueError, "whole number >= 1"),
        (["high:", "default:1"], ValueError, "whole number >= 1"),
        (["high:1.5", "default:1"], ValueError, "whole number >= 1"),
        (["high", "high"], ValueError, "named twice"),
        (["high:1", ("high", 2)], ValueError, "named twice"),
        ([], ValueError, "non-empty list"),
        ([("high", 1, 2)], ValueError, "'name:weight' or a \\(name, weight\\) pair"),
        ([3], ValueError, "'name:weight' or a \\(name, weight\\) pair"),
        (["{high}"], InvalidNameError, "braces"),
        (["_reserved:1"], InvalidNameError, "reserved"),
    ],
)
def test_a_malformed_list_of_queues_is_refused_before_any_thread_starts(
    spin: Engine, queue: Any, error: type[Exception], match: str
) -> None:
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(error, match=match):
        spin.start_workers(queue=queue, block=False)
    assert {t.name for t in threading.enumerate()} <= before


def test_one_queue_name_is_taken_as_it_is_colon_and_all(spin: Engine, ledger: Ledger) -> None:
    tasks = Tasks()
    tasks.add(lambda: ledger.add("ran"), name="eu", queue="mail:2")
    spin.attach_tasks(tasks)
    spin.schedule("eu")
    run: Callable[..., None] = spin.start_workers
    run(number=1, queue="mail:2", stop_when_queue_empty=True)  # 0.0.25: a str is one name
    assert ledger.entries == ["ran"]


def test_asyncio_workers_consume_several_queues_too(spin: Engine, ledger: Ledger) -> None:
    from spinach import AsyncioWorkers

    tasks = Tasks()
    for queue in ("high", "default"):

        async def run(n: int, queue: str = queue) -> None:
            ledger.add((queue, n))

        tasks.add(run, name=queue, queue=queue)
    spin.attach_tasks(tasks)
    for n in range(5):
        spin.schedule("default", n)
        spin.schedule("high", n)
    spin.start_workers(
        number=1,
        queue=["high", "default"],
        workers_class=AsyncioWorkers,
        stop_when_queue_empty=True,
    )
    assert [queue for queue, _ in ledger.entries] == ["high"] * 5 + ["default"] * 5
