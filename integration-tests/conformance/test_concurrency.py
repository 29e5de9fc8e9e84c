"""Concurrency limits: never exceeded, never leaked, and blocked jobs never block the others."""

import threading
import time
from datetime import timedelta

from helpers import Ledger, Overlap, wait_for

from spinach import AbortException, Batch, Engine, Tasks
from spinach.retry import ExponentialBackoff

FAST = ExponentialBackoff(base=timedelta(milliseconds=10), cap=timedelta(milliseconds=20))


def _limited(
    ledger: Ledger,
    overlap: Overlap,
    limit: int,
    hold: threading.Event | None = None,
    work: float = 0,
) -> Tasks:
    tasks = Tasks()

    @tasks.task(name="limited", max_retries=3, max_concurrency=limit, retry_policy=FAST)
    def limited(i: int) -> None:
        with overlap:
            ledger.add(i)
            if hold is not None:
                hold.wait(10)
            time.sleep(work)  # the job's own work, so that runs can overlap

    return tasks


def test_a_limited_task_never_runs_more_than_its_limit_and_keeps_its_order(
    spin: Engine, ledger: Ledger
) -> None:
    overlap = Overlap()
    spin.attach_tasks(_limited(ledger, overlap, limit=1))
    batch = Batch()
    for i in range(30):
        batch.schedule("limited", i)
    spin.schedule_batch(batch)
    spin.start_workers(number=6, block=True, stop_when_queue_empty=True)
    assert ledger.entries == list(range(30))
    assert overlap.peak == 1


def test_the_limit_holds_across_workers(make_broker, namespace: str, ledger: Ledger) -> None:
    overlap = Overlap()
    engines = []
    for _ in range(3):
        engine = Engine(make_broker(), namespace=namespace)
        engine.attach_tasks(_limited(ledger, overlap, limit=2, work=0.01))
        engines.append(engine)
    batch = Batch()
    for i in range(60):
        batch.schedule("limited", i)
    engines[0].schedule_batch(batch)
    for engine in engines:
        engine.start_workers(number=4, block=False)
    ledger.wait_for_count(60)
    for engine in engines:
        engine.stop_workers()
    assert sorted(ledger.entries) == list(range(60))
    assert overlap.peak == 2


def test_jobs_blocked_by_a_limit_never_hold_up_other_tasks(spin: Engine, ledger: Ledger) -> None:
    hold = threading.Event()
    overlap = Overlap()
    tasks = _limited(ledger, overlap, limit=1, hold=hold)
    tasks.add(lambda: ledger.add("other"), name="other")
    spin.attach_tasks(tasks)
    spin.start_workers(number=4, block=False)  # publishes the limit
    batch = Batch()
    for i in range(5_000):
        batch.schedule("limited", i)
    jobs = spin.schedule_batch(batch)
    ledger.wait_for_count(1)  # one limited job runs and holds its only slot
    held = spin.get_job(jobs[-1].job_id)
    assert held is not None and held.waiting_for == "a free slot of its task's concurrency limit"

    # 4,999 jobs wait for that slot, parked aside by the fetches that met them (each moves a
    # bounded number, once each): a job of another task goes straight ahead.
    wait_for(lambda: spin.broker.queue_stats("spinach").ready == 0, message="blocked jobs parked")
    assert spin.broker.concurrency("spinach", "limited") == (1, 1, 4_999)
    spin.schedule("other")
    wait_for(lambda: "other" in ledger.entries, timeout=5, message="the other task")
    assert spin.broker.concurrency("spinach", "limited")[1] == 1  # the slot is still held
    hold.set()
    ledger.wait_for_count(20)  # the parked jobs follow one at a time, in order
    spin.stop_workers()
    assert [e for e in ledger.entries if e != "other"][:19] == list(range(19))
    assert overlap.peak == 1


def test_no_failure_path_leaks_a_slot(spin: Engine, ledger: Ledger) -> None:
    tasks = Tasks()
    runs: dict[str, int] = {}

    @tasks.task(name="limited", max_retries=1, max_concurrency=1, retry_policy=FAST)
    def limited(kind: str) -> None:
        runs[kind] = runs.get(kind, 0) + 1
        if kind == "abort":
            raise AbortException("stop")
        if kind == "fail":
            raise ValueError("always")
        ledger.add(kind)

    spin.attach_tasks(tasks)
    spin.start_workers(number=2, block=False, lease_seconds=0.5)
    spin.stop_workers()
    # A worker that died holding a job of the task (its lease expires unrenewed)...
    spin.schedule(limited, "dead")
    assert len(spin.broker.fetch("spinach", 1, lease_ms=200, task_names=["limited"]).jobs) == 1
    # ...then jobs that abort, that fail for good, and one that succeeds.
    for kind in ("abort", "fail", "last"):
        spin.schedule(limited, kind)
    spin.start_workers(number=2, block=False, lease_seconds=0.5)
    wait_for(lambda: "last" in ledger.entries and runs.get("fail") == 2, message="all the runs")
    wait_for(lambda: spin.broker.concurrency("spinach", "limited")[1:] == (0, 0), message="0 slots")
    spin.stop_workers()
    assert runs == {"dead": 1, "abort": 1, "fail": 2, "last": 1}


def test_an_operators_override_outlives_worker_restarts_until_lifted(
    spin: Engine, ledger: Ledger
) -> None:
    spin.attach_tasks(_limited(ledger, Overlap(), limit=1))
    spin.start_workers(number=1, block=False)
    spin.stop_workers()
    assert spin.broker.concurrency("spinach", "limited")[0] == 1
    assert spin.set_concurrency_limit("limited", 5) == 5
    spin.start_workers(number=1, block=False)  # a restart applies the code's limit...
    spin.stop_workers()
    assert spin.broker.concurrency("spinach", "limited")[0] == 5  # ...under the override
    assert spin.set_concurrency_limit("limited", None) == 1


def test_deployments_sharing_a_namespace_keep_each_others_limits(
    make_broker, namespace: str, ledger: Ledger
) -> None:
    first = Engine(make_broker(), namespace=namespace)
    first.attach_tasks(_limited(ledger, Overlap(), limit=2))
    first.start_workers(number=1, block=False)
    first.stop_workers()
    second = Engine(make_broker(), namespace=namespace)
    other = Tasks()
    other.add(lambda: None, name="unrelated")
    second.attach_tasks(other)
    second.start_workers(number=1, block=False)
    second.stop_workers()
    assert first.broker.concurrency("spinach", "limited")[0] == 2


def test_lifting_a_limit_releases_the_jobs_it_held_back(spin: Engine, ledger: Ledger) -> None:
    hold = threading.Event()
    spin.attach_tasks(_limited(ledger, Overlap(), limit=1, hold=hold))
    spin.start_workers(number=4, block=False)
    for i in range(4):
        spin.schedule("limited", i)
    ledger.wait_for_count(1)
    # The other three are parked by the fetches that meet them (the last may arrive after).
    wait_for(lambda: spin.broker.concurrency("spinach", "limited")[2] == 3, message="3 held back")
    spin.set_concurrency_limit("limited", 4)
    ledger.wait_for_count(4, timeout=10)  # all four run together now
    hold.set()
    spin.stop_workers()


def test_jobs_held_back_by_their_limits_are_listed_task_by_task_a_page_at_a_time(
    spin: Engine, ledger: Ledger
) -> None:
    release = threading.Event()
    tasks = Tasks()
    for name in ("b_task", "a_task"):  # listed by task name, whatever the order they came in

        @tasks.task(name=name, max_concurrency=1, max_retries=1)
        def limited(n: int, name: str = name) -> None:
            ledger.add((name, n))
            release.wait(10)

    spin.attach_tasks(tasks)
    names = ("b_task", "a_task")
    sent = {name: [spin.schedule(name, n).job_id for n in range(3)] for name in names}
    # Three threads: the first fetch meets every job, runs one of each task, holds the rest.
    spin.start_workers(number=3, block=False)
    try:
        held = sent["a_task"][1:] + sent["b_task"][1:]

        def page(offset: int, limit: int) -> list[str]:
            return [job.id for job in spin.jobs("held", offset=offset, limit=limit).jobs]

        wait_for(lambda: page(0, 10) == held, message="two jobs of each task held back")
        assert page(0, 3) == held[:3]
        assert page(1, 2) == held[1:3]  # across the end of one task's list
        assert page(3, 5) == held[3:]
        assert page(4, 5) == []
        first = spin.jobs("held", limit=3)
        assert (first.total, first.next_offset) == (4, 3)
        assert [job.id for job in spin.jobs("held", task="b_task").jobs] == sent["b_task"][1:]
        assert all(job.status.name == "QUEUED" for job in first.jobs)
    finally:
        release.set()
    wait_for(lambda: len(ledger.entries) == 6, message="every job ran once released")
