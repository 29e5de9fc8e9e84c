"""Progress reports: a running task says how far it got; get_job shows the latest report."""

import asyncio
import threading
from datetime import timedelta

import pytest
from helpers import wait_for

from spinach import AsyncioWorkers, Engine, Tasks, current_job
from spinach.job import Job, JobStatus
from spinach.retry import ExponentialBackoff

FAST = ExponentialBackoff(base=timedelta(milliseconds=10), cap=timedelta(milliseconds=20))


def _tasks(gate: threading.Event) -> Tasks:
    tasks = Tasks()

    @tasks.task(name="resize")
    def resize(images: int) -> None:
        job = current_job()
        for n in range(1, images + 1):
            job.report_progress(n / images, f"image {n} of {images}")
        assert gate.wait(10)

    @tasks.task(name="resize_async")
    async def resize_async(images: int) -> None:
        for n in range(1, images + 1):
            current_job().report_progress(n / images, f"image {n} of {images}")
            await asyncio.sleep(0)
        await asyncio.to_thread(gate.wait, 10)  # a thread of the task sees its job too

    @tasks.task(name="quick")
    def quick() -> None:
        current_job().report_progress(1, "done")

    @tasks.task(name="quick_async")
    async def quick_async() -> None:
        current_job().report_progress(1, "done")

    @tasks.task(name="retried", max_retries=1, retry_policy=FAST)
    def retried(runs: list[int] = []) -> None:  # noqa: B006 - the runs of this test
        runs.append(1)
        if len(runs) == 1:
            current_job().report_progress(0.9, "first run")
            raise ConnectionError("again")
        assert gate.wait(10)

    return tasks


def _progress(spin: Engine, job: Job) -> tuple[float | None, str | None]:
    info = spin.get_job(job)
    return (info.progress, info.progress_message) if info else (None, None)


@pytest.mark.parametrize("task", ["resize", "resize_async"])
def test_get_job_shows_the_latest_progress_of_a_running_job(spin: Engine, task: str) -> None:
    gate = threading.Event()
    spin.attach_tasks(_tasks(gate))
    job = spin.schedule(task, 500)
    workers = AsyncioWorkers if task.endswith("async") else None
    spin.start_workers(number=1, block=False, **({"workers_class": workers} if workers else {}))
    wait_for(lambda: _progress(spin, job) == (1.0, "image 500 of 500"), timeout=10)
    info = spin.get_job(job)
    assert info is not None and info.status is JobStatus.RUNNING and info.progress_at
    gate.set()
    wait_for(lambda: spin.get_job(job).status is JobStatus.SUCCEEDED)  # type: ignore[union-attr]
    assert _progress(spin, job) == (1.0, "image 500 of 500")  # kept in its finished record


def test_a_retried_job_starts_its_progress_afresh(spin: Engine) -> None:
    gate = threading.Event()
    spin.attach_tasks(_tasks(gate))
    job = spin.schedule("retried")
    spin.start_workers(number=1, block=False)
    wait_for(lambda: (i := spin.get_job(job)) and i.attempts == 2 and i.status is JobStatus.RUNNING)
    assert _progress(spin, job) == (None, None)
    gate.set()


def test_progress_outside_a_worker_says_where_it_works() -> None:
    with pytest.raises(RuntimeError, match="only available in a task run by a Spinach worker"):
        current_job()


def test_a_report_under_a_lease_that_is_not_the_callers_is_dropped(spin: Engine) -> None:
    gate = threading.Event()
    spin.attach_tasks(_tasks(gate))
    job = spin.schedule("resize", 1)
    spin.start_workers(number=1, block=False)
    wait_for(lambda: _progress(spin, job)[0] == 1.0)
    stale = [(job.job_id, "1:0:another-worker", "0.1\x03stale")]
    assert spin.broker.report_progress(job.queue, stale) == 0
    assert _progress(spin, job) == (1.0, "image 1 of 1")
    gate.set()


@pytest.mark.parametrize("task", ["quick", "quick_async"])
def test_the_last_report_before_a_job_ends_is_kept_in_its_record(spin: Engine, task: str) -> None:
    spin.attach_tasks(_tasks(threading.Event()))
    job = spin.schedule(task)
    workers = {"workers_class": AsyncioWorkers} if task.endswith("async") else {}
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True, **workers)
    info = spin.get_job(job)
    assert info is not None and info.status is JobStatus.SUCCEEDED
    assert _progress(spin, job) == (1.0, "done")  # sent before the outcome closed the record
