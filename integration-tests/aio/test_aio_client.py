"""The asyncio client sends and inspects jobs as the Engine does, on Redis and on a cluster.

Jobs are sent with `await`, then run by the Engine's sync workers in a thread; what the
asyncio client reads back is compared with what the sync Engine reads.
"""

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from anyio import to_thread
from helpers import Ledger

from spinach import Batch, CancelResult, Chain, Engine, Group, JobStatus, NoResultError, Step, Tasks
from spinach.aio import AsyncEngine

pytestmark = pytest.mark.anyio


def _tasks(spin: Engine, ledger: Ledger) -> None:
    tasks = Tasks()

    @tasks.task(name="record")
    def record(label: str, n: int = 0) -> None:
        ledger.add((label, n))

    @tasks.task(name="other", queue="other")
    def other(n: int) -> None:
        ledger.add(("other", n))

    @tasks.task(name="boom")
    def boom(n: int) -> None:
        raise ValueError(f"bad input {n}")

    spin.attach_tasks(tasks)


async def _drain(spin: Engine, queue: str = "spinach") -> None:
    """Run the queue's jobs on the Engine's sync workers, in a thread, until it is empty."""
    run = partial(spin.start_workers, number=4, queue=queue, block=True, stop_when_queue_empty=True)
    await to_thread.run_sync(run)


async def test_jobs_sent_with_await_run_on_the_sync_workers(
    spin: Engine, aspin: AsyncEngine, ledger: Ledger
) -> None:
    _tasks(spin, ledger)
    first = await aspin.schedule("record", "schedule", n=1)
    await aspin.schedule_at("record", datetime.now(UTC) - timedelta(seconds=1), "schedule_at")
    await aspin.schedule_in("record", timedelta(0), "schedule_in")
    batch = Batch()
    for i in range(30):
        batch.schedule("record", "batch", i)
        batch.schedule("other", i)  # another queue: another node of a cluster, most likely
    jobs = await aspin.schedule_batch(batch)

    assert first.status is JobStatus.QUEUED and first.task_name == "record"
    assert len(jobs) == 60 and {job.queue for job in jobs} == {"spinach", "other"}
    assert sorted(await aspin.queues()) == ["other", "spinach"]
    await _drain(spin)
    await _drain(spin, "other")
    expected = [("schedule", 1), ("schedule_at", 0), ("schedule_in", 0)]
    expected += [("batch", i) for i in range(30)] + [("other", i) for i in range(30)]
    assert sorted(ledger.entries) == sorted(expected)
    done = await aspin.get_job(first)
    assert done is not None and done.status is JobStatus.SUCCEEDED


async def test_a_job_due_later_waits_until_run_now_or_cancel(
    spin: Engine, aspin: AsyncEngine, ledger: Ledger
) -> None:
    _tasks(spin, ledger)
    later = await aspin.schedule_at("record", datetime.now(UTC) + timedelta(hours=1), "later")
    soon = await aspin.schedule_in("record", timedelta(hours=1), "soon")
    assert later.status is soon.status is JobStatus.WAITING

    info = await aspin.get_job(later.job_id)
    assert info is not None and info.status is JobStatus.WAITING
    assert info.due_at is not None and info.due_at > datetime.now(UTC) + timedelta(minutes=59)
    assert info == spin.get_job(later.job_id)  # the sync Engine reads the very same

    assert await aspin.run_now(later) is True
    assert (await aspin.get_job(later)).status is JobStatus.QUEUED  # type: ignore[union-attr]
    assert await aspin.cancel(soon.id) is CancelResult.CANCELLED
    assert (await aspin.get_job(soon)).status is JobStatus.CANCELLED  # type: ignore[union-attr]
    assert await aspin.cancel("no-such-job") is CancelResult.NOT_FOUND
    assert await aspin.get_job("no-such-job") is None
    await _drain(spin)
    assert ledger.entries == [("later", 0)]


async def test_jobs_with_options_of_their_own_pause_and_unique_keys_work_awaited(
    spin: Engine, aspin: AsyncEngine, ledger: Ledger
) -> None:
    _tasks(spin, ledger)
    first = await aspin.schedule_with("record", ("keyed",), {"n": 1}, unique_key="k")
    again = await aspin.schedule_with("record", ("keyed",), {"n": 2}, unique_key="k")
    later = await aspin.schedule_with("record", ("later",), delay=3600, max_retries=2)
    assert again.duplicate and again.job_id == first.job_id and not first.duplicate
    assert later.status is JobStatus.WAITING and later.max_retries == 2
    info = await aspin.get_job(later)
    assert info is not None and info.max_retries == 2
    assert await aspin.pause_queue() is True
    assert [q.paused for q in (await aspin.status("spinach")).queues] == [True]
    assert await aspin.resume_queue() is True
    assert await aspin.cancel(later) is CancelResult.CANCELLED  # the drain waits for no hour
    await _drain(spin)
    assert ledger.entries == [("keyed", 1)]


async def test_failed_jobs_are_listed_retried_and_purged(
    spin: Engine, aspin: AsyncEngine, ledger: Ledger
) -> None:
    _tasks(spin, ledger)
    sent = [await aspin.schedule("boom", n) for n in range(3)]
    await _drain(spin)

    failed = await aspin.failed_jobs()
    assert {job.id for job in failed} == {job.job_id for job in sent}
    assert {job.error_message for job in failed} == {f"bad input {n}" for n in range(3)}
    assert failed == spin.failed_jobs()
    assert await aspin.retry_failed(sent[0]) is True
    assert await aspin.retry_failed("no-such-job") is False
    stats = (await aspin.status("spinach")).queues
    assert [(q.name, q.ready, q.failed) for q in stats] == [("spinach", 1, 2)]
    assert await aspin.retry_all_failed(task="boom") == 2
    await _drain(spin)
    assert len(await aspin.failed_jobs(limit=2)) == 2
    assert await aspin.purge_failed("spinach") == 3
    assert await aspin.failed_jobs() == []


async def test_status_pages_and_throughput_read_what_the_sync_engine_reads(
    spin: Engine, aspin: AsyncEngine, ledger: Ledger
) -> None:
    _tasks(spin, ledger)
    batch = Batch()
    for i in range(5):
        batch.schedule("record", "a", i)
    for i in range(3):
        batch.schedule("boom", i)
    await aspin.schedule_batch(batch)

    status = await aspin.status()
    assert status.namespace == spin.namespace
    assert [(q.name, q.ready, q.delayed, q.running) for q in status.queues] == [
        ("other", 0, 0, 0),
        ("spinach", 8, 0, 0),
    ]
    page = await aspin.jobs("ready", limit=3)
    assert page == spin.jobs("ready", limit=3)
    assert page.total == 8 and page.next_offset == 3 and len(page.jobs) == 3
    booms = await aspin.jobs("ready", task="boom")
    assert [job.args for job in booms.jobs] == [(0,), (1,), (2,)]
    with pytest.raises(ValueError, match="state must be one of"):
        await aspin.jobs("lost")
    with pytest.raises(ValueError, match="limit must be between 1 and 1000"):
        await aspin.failed_jobs(limit=0)

    await _drain(spin)
    minutes = await aspin.throughput("spinach", minutes=5)
    assert minutes == spin.throughput("spinach", minutes=5)
    assert sum(m.processed for m in minutes) == 8 and sum(m.failed for m in minutes) == 3


async def test_a_workflow_sent_awaited_runs_and_its_result_is_awaited(
    spin: Engine, aspin: AsyncEngine, ledger: Ledger
) -> None:
    tasks = Tasks()

    @tasks.task(name="twice")
    def twice(n: int) -> int:
        return 2 * n

    @tasks.task(name="summed", store_result=True)
    def summed(values: list[int]) -> int:
        return sum(values)

    spin.attach_tasks(tasks)
    flow = await aspin.schedule_workflow(
        Chain(Group(Step("twice", 1), Step("twice", 2)), Step("summed"))
    )
    await _drain(spin)
    assert await aspin.result(flow.jobs[-1], timeout=5) == 6
    steps = await aspin.get_workflow(flow.id)
    assert steps is not None and [s.status for s in steps] == [JobStatus.SUCCEEDED] * 3
    with pytest.raises(NoResultError, match="keeps no result"):
        await aspin.result(flow.jobs[0], timeout=1)
