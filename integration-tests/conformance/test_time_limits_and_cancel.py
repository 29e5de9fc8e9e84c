"""Time limits and the cancel of running jobs: a run is stopped, its job ends as it should
(failed and retried if it may be, or cancelled and never retried), and the worker's pool keeps
its size."""

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from helpers import wait_for

from spinach import (
    AsyncioWorkers,
    CancelResult,
    Engine,
    JobCancelled,
    JobCancelledError,
    Tasks,
    TimeLimitExceeded,
    current_job,
    signals,
)
from spinach.job import Job, JobStatus
from spinach.protocol import FetchedJob, Lease, Outcome
from spinach.retry import ExponentialBackoff

FAST = ExponentialBackoff(base=timedelta(milliseconds=10), cap=timedelta(milliseconds=20))
LIMIT = 0.3


class Runs:
    """What the tasks of a test saw, for its assertions."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.raised: list[str] = []
        self.flags: list[bool] = []
        self.release = threading.Event()


def _tasks(runs: Runs) -> Tasks:
    tasks = Tasks()

    @tasks.task(name="busy_loop", time_limit=LIMIT, max_retries=0)
    def busy_loop() -> None:
        runs.started.append("busy_loop")
        try:
            while True:  # CPU-bound: never calls anything that could block
                pass
        except TimeLimitExceeded:
            runs.raised.append("TimeLimitExceeded")
            raise

    @tasks.task(name="sleeper", time_limit=LIMIT, max_retries=1, retry_policy=FAST)
    def sleeper() -> None:
        runs.started.append("sleeper")
        time.sleep(20)  # a blocking C call: Python cannot interrupt it

    @tasks.task(name="async_sleeper", time_limit=LIMIT, max_retries=0)
    async def async_sleeper() -> None:
        runs.started.append("async_sleeper")
        try:
            await asyncio.sleep(20)
        except asyncio.CancelledError:
            runs.raised.append("CancelledError")
            raise

    @tasks.task(name="slow_but_soft", soft_time_limit=0.05)
    def slow_but_soft() -> str:
        assert runs.release.wait(10)
        return "done"

    @tasks.task(name="worker_loop", max_retries=5, retry_policy=FAST, store_result=True)
    def worker_loop() -> None:
        runs.started.append("worker_loop")
        try:
            while True:
                time.sleep(0.005)
        except JobCancelled:
            runs.flags.append(current_job().cancelled)
            raise

    @tasks.task(name="async_loop", max_retries=5)
    async def async_loop() -> None:
        runs.started.append("async_loop")
        await asyncio.sleep(20)

    @tasks.task(name="blocked", max_retries=5)
    def blocked() -> None:
        runs.started.append("blocked")
        time.sleep(20)

    @tasks.task(name="async_inner_cancelled", max_retries=1, retry_policy=FAST)
    async def async_inner_cancelled() -> None:
        runs.started.append("async_inner_cancelled")
        inner = asyncio.ensure_future(asyncio.sleep(10))
        asyncio.get_running_loop().call_soon(inner.cancel)  # someone else's cancel
        await inner

    @tasks.task(name="async_swallow", max_retries=0)
    async def async_swallow() -> str:
        runs.started.append("async_swallow")
        try:
            await asyncio.sleep(20)
        except asyncio.CancelledError:
            return "carried on"  # swallows the stop
        return "slept"

    @tasks.task(name="async_cancelling", store_result=True)
    async def async_cancelling() -> int:
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()

    @tasks.task(name="quick")
    def quick() -> str:
        return "quick"

    @tasks.task(name="async_quick")
    async def async_quick() -> str:
        return "quick"

    return tasks


def _status(spin: Engine, job: Job) -> JobStatus | None:
    info = spin.get_job(job)
    return info.status if info else None


def _ends(spin: Engine, job: Job, status: JobStatus, timeout: float = 10.0) -> Any:
    wait_for(lambda: _status(spin, job) is status, timeout, f"{job} to be {status.name}")
    return spin.get_job(job)


def _start(spin: Engine, runs: Runs, asyncio_workers: bool = False) -> None:
    spin.attach_tasks(_tasks(runs))
    extra: dict[str, Any] = {"workers_class": AsyncioWorkers} if asyncio_workers else {}
    spin.start_workers(number=1, block=False, **extra)


def test_a_cpu_bound_run_past_its_time_limit_is_stopped_and_fails(spin: Engine) -> None:
    runs = Runs()
    _start(spin, runs)
    job = spin.schedule("busy_loop")
    info = _ends(spin, job, JobStatus.FAILED)
    assert info.error_type == "spinach.time_limits.TimeLimitExceeded"
    assert "time limit of task 'busy_loop' (0.3 s)" in info.error_message
    assert runs.raised == ["TimeLimitExceeded"]  # raised in the task: its handlers ran
    assert info.finished_at - info.started_at >= timedelta(seconds=LIMIT)
    # The one thread of the pool runs the next job.
    _ends(spin, spin.schedule("quick"), JobStatus.SUCCEEDED)


def test_a_run_blocked_in_a_sleep_is_failed_and_its_thread_replaced(spin: Engine) -> None:
    runs = Runs()
    _start(spin, runs)
    job = spin.schedule("sleeper")
    # Its time limit fails it (1 retry left: it runs again, and fails again), though each
    # run's thread stays blocked in time.sleep for 20 s.
    info = _ends(spin, job, JobStatus.FAILED, timeout=15)
    assert info.attempts == 2 and runs.started == ["sleeper", "sleeper"]
    assert info.error_type == "spinach.time_limits.TimeLimitExceeded"
    # The pool of one thread kept its size: a new thread runs the next jobs.
    _ends(spin, spin.schedule("quick"), JobStatus.SUCCEEDED)


def test_a_coroutine_past_its_time_limit_is_cancelled_and_fails(spin: Engine) -> None:
    runs = Runs()
    _start(spin, runs, asyncio_workers=True)
    job = spin.schedule("async_sleeper")
    info = _ends(spin, job, JobStatus.FAILED)
    assert info.error_type == "spinach.time_limits.TimeLimitExceeded"
    assert runs.raised == ["CancelledError"]
    _ends(spin, spin.schedule("async_quick"), JobStatus.SUCCEEDED)


def test_a_soft_time_limit_warns_and_lets_the_run_go_on(spin: Engine) -> None:
    runs = Runs()
    warned: list[str] = []

    @signals.job_soft_time_limit.connect_via(spin.namespace)
    def on_soft(namespace: str, job: Job, **kwargs: Any) -> None:
        warned.append(job.task_name)
        runs.release.set()

    _start(spin, runs)
    job = spin.schedule("slow_but_soft")
    _ends(spin, job, JobStatus.SUCCEEDED)
    assert warned == ["slow_but_soft"]


def test_soft_limit_must_come_before_the_hard_one() -> None:
    tasks = Tasks()
    with pytest.raises(ValueError, match=r"soft_time_limit .* must be shorter than time_limit"):
        tasks.add(lambda: None, "bad", time_limit=1, soft_time_limit=2)
    with pytest.raises(TypeError, match="time_limit takes a timedelta or seconds"):
        tasks.add(lambda: None, "worse", time_limit="1m")  # type: ignore[arg-type]


def _cancel_running(
    spin: Engine, runs: Runs, task: str, asyncio_workers: bool = False
) -> tuple[Job, Any]:
    _start(spin, runs, asyncio_workers)
    job = spin.schedule(task)
    wait_for(lambda: runs.started == [task], message=f"{task} to start")
    assert spin.cancel(job) is CancelResult.REQUESTED
    requested = spin.get_job(job)
    return job, requested


def test_cancel_stops_a_running_job_which_ends_cancelled_and_is_never_retried(
    spin: Engine,
) -> None:
    runs = Runs()
    job, requested = _cancel_running(spin, runs, "worker_loop")
    assert requested.cancel_requested_at is not None
    info = _ends(spin, job, JobStatus.CANCELLED, timeout=5)  # told within a second
    assert runs.flags == [True]  # the task saw JobCancelled, and job.cancelled
    assert runs.started == ["worker_loop"]  # max_retries=5, never retried
    assert info.attempts == 1
    with pytest.raises(JobCancelledError):
        spin.result(job, timeout=5)
    _ends(spin, spin.schedule("quick"), JobStatus.SUCCEEDED)


def test_cancel_stops_a_running_coroutine(spin: Engine) -> None:
    runs = Runs()
    job, _ = _cancel_running(spin, runs, "async_loop", asyncio_workers=True)
    _ends(spin, job, JobStatus.CANCELLED, timeout=5)
    assert runs.started == ["async_loop"]
    _ends(spin, spin.schedule("async_quick"), JobStatus.SUCCEEDED)


def test_cancel_of_a_job_blocked_in_a_call_ends_it_and_replaces_its_thread(spin: Engine) -> None:
    runs = Runs()
    job, _ = _cancel_running(spin, runs, "blocked")
    _ends(spin, job, JobStatus.CANCELLED, timeout=5)
    assert runs.started == ["blocked"]
    _ends(spin, spin.schedule("quick"), JobStatus.SUCCEEDED)


def test_a_second_cancel_of_a_running_job_says_requested_again(spin: Engine) -> None:
    runs = Runs()
    _start(spin, runs)
    job = spin.schedule("blocked")
    wait_for(lambda: runs.started == ["blocked"])
    first = spin.cancel(job)
    second = spin.cancel(job)
    assert (first, second) in (
        (CancelResult.REQUESTED, CancelResult.REQUESTED),
        (CancelResult.REQUESTED, CancelResult.FINISHED),  # it was stopped in between
    )
    assert not first  # only a job removed before it started is "cancelled" as 0.0.25 meant
    _ends(spin, job, JobStatus.CANCELLED, timeout=5)


def _held(spin: Engine, runs: Runs, task: str) -> tuple[Job, FetchedJob]:
    """A job of `task` leased to a worker that is only a name: its fate is the test's."""
    spin.attach_tasks(_tasks(runs))
    job = spin.schedule(task)
    spin.broker.check_schema(job.queue)
    [held] = spin.broker.fetch(job.queue, 1, 30_000, worker_id="a-worker").jobs
    return job, held


def test_lease_renewal_reports_the_cancelled_jobs_the_worker_holds(spin: Engine) -> None:
    # The backstop of the cancel message: a worker that missed it learns at its next renewal.
    job, held = _held(spin, Runs(), "quick")
    broker = spin.broker
    before = broker.renew(job.queue, [Lease(held.id, held.token)], 30_000)
    assert before.cancelled == []
    assert spin.cancel(job) is CancelResult.REQUESTED
    after = broker.renew(job.queue, [Lease(held.id, held.token)], 30_000)
    assert after.cancelled == [held.id] and after.lost == []


def test_a_run_that_succeeds_before_the_stop_reaches_it_keeps_its_success(spin: Engine) -> None:
    job, held = _held(spin, Runs(), "quick")
    assert spin.cancel(job) is CancelResult.REQUESTED
    assert spin.broker.finish(job.queue, [(Outcome("s", held.id), held.token)]).applied == 1
    assert _status(spin, job) is JobStatus.SUCCEEDED


def test_a_failed_run_of_a_job_whose_cancel_was_asked_ends_cancelled(spin: Engine) -> None:
    # The record's mark decides, whatever the worker brings: a retry is not scheduled.
    job, held = _held(spin, Runs(), "worker_loop")
    assert spin.cancel(job) is CancelResult.REQUESTED
    retry = Outcome("r", held.id, 10, "ValueError: late", "")
    assert spin.broker.finish(job.queue, [(retry, held.token)]).applied == 1
    assert _status(spin, job) is JobStatus.CANCELLED
    with pytest.raises(JobCancelledError):
        spin.result(job, timeout=1)


def test_a_cancelled_error_that_is_not_a_stop_is_an_error_like_another(spin: Engine) -> None:
    runs = Runs()
    _start(spin, runs, asyncio_workers=True)
    job = spin.schedule("async_inner_cancelled")
    info = _ends(spin, job, JobStatus.FAILED)
    assert info.attempts == 2 and info.error_type == "asyncio.exceptions.CancelledError"


def test_a_coroutine_that_swallows_its_stop_leaves_its_consumer_fit_for_the_next(
    spin: Engine,
) -> None:
    runs = Runs()
    job, _ = _cancel_running(spin, runs, "async_swallow", asyncio_workers=True)
    _ends(spin, job, JobStatus.SUCCEEDED, timeout=5)  # its run succeeded: the success stands
    after = spin.schedule("async_cancelling")
    assert spin.result(after, timeout=5) == 0  # no cancel left owed on the consumer task


def test_a_cancelled_job_handed_back_unstarted_is_reported_cancelled_not_run(
    spin: Engine,
) -> None:
    runs = Runs()
    job, held = _held(spin, runs, "worker_loop")
    assert spin.cancel(job) is CancelResult.REQUESTED
    assert spin.broker.release(job.queue, [Lease(held.id, held.token)]) == 1  # a graceful stop
    spin.start_workers(number=1, block=False)
    _ends(spin, job, JobStatus.CANCELLED)
    assert runs.started == []
