"""Stored results: what a job returned, kept for its result_ttl, and waited for without polling."""

import threading
import time
from datetime import timedelta

import pytest
from helpers import wait_for

from spinach import (
    Batch,
    Engine,
    JobCancelledError,
    JobFailedError,
    NoResultError,
    ResultTimeout,
    Retention,
    Tasks,
)
from spinach.job import JobStatus
from spinach.retry import ExponentialBackoff

FAST = ExponentialBackoff(base=timedelta(milliseconds=10), cap=timedelta(milliseconds=20))


def _tasks(gate: threading.Event | None = None) -> Tasks:
    tasks = Tasks()

    @tasks.task(name="add", store_result=True)
    def add(a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    @tasks.task(name="plain")
    def plain() -> int:
        return 42

    @tasks.task(name="boom", store_result=True)
    def boom() -> None:
        raise ValueError("no such row")

    @tasks.task(name="odd", store_result=True)
    def odd() -> set[int]:
        return {1, 2}

    @tasks.task(name="slow", store_result=True)
    def slow() -> str:
        assert gate is not None and gate.wait(10)
        return "late"

    runs: list[int] = []

    @tasks.task(name="flaky", store_result=True, max_retries=1, retry_policy=FAST)
    def flaky() -> str:
        runs.append(1)
        if len(runs) == 1:
            raise ConnectionError("try again")
        return "second run"

    return tasks


def test_a_task_that_keeps_its_result_gives_it_to_get_job_and_result(spin: Engine) -> None:
    spin.attach_tasks(_tasks())
    job = spin.schedule("add", 2, 3)
    spin.start_workers(number=2, block=True, stop_when_queue_empty=True)
    assert spin.result(job, timeout=5) == {"sum": 5}
    assert spin.result(job.job_id, timeout=0) == {"sum": 5}  # kept for the next reader
    info = spin.get_job(job)
    assert info is not None and info.status is JobStatus.SUCCEEDED
    assert (info.stores_result, info.result_state, info.result) == (True, "succeeded", {"sum": 5})


def test_result_blocks_until_the_job_ends(spin: Engine) -> None:
    gate = threading.Event()
    spin.attach_tasks(_tasks(gate))
    job = spin.schedule("slow")
    spin.start_workers(number=1, block=False)
    wait_for(lambda: (info := spin.get_job(job)) and info.status is JobStatus.RUNNING)
    with pytest.raises(ResultTimeout, match=r"did not end within 0\.2 s"):
        spin.result(job, timeout=0.2)
    threading.Timer(0.3, gate.set).start()
    started = time.monotonic()
    assert spin.result(job, timeout=10) == "late"
    assert time.monotonic() - started < 5  # woken by the result, not by the timeout


def test_a_job_that_failed_for_good_raises_its_remote_error(spin: Engine) -> None:
    spin.attach_tasks(_tasks())
    job = spin.schedule("boom")
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    with pytest.raises(JobFailedError, match="no such row") as failed:
        spin.result(job, timeout=5)
    assert failed.value.error_type == "ValueError"
    assert failed.value.error_message == "no such row"
    assert 'raise ValueError("no such row")' in failed.value.remote_traceback
    info = spin.get_job(job)
    assert info is not None and info.result_state == "failed"


def test_a_retried_job_gives_the_result_of_the_run_that_succeeded(spin: Engine) -> None:
    tasks = _tasks()
    spin.attach_tasks(tasks)
    job = spin.schedule("flaky")
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert spin.result(job, timeout=5) == "second run"


def test_a_result_that_is_no_json_data_fails_the_job_with_a_clear_error(spin: Engine) -> None:
    spin.attach_tasks(_tasks())
    job = spin.schedule("odd")
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    with pytest.raises(JobFailedError, match="set is not JSON-compatible") as failed:
        spin.result(job, timeout=5)
    assert failed.value.error_type == "spinach.results.UnstorableResultError"
    info = spin.get_job(job)
    assert info is not None and info.status is JobStatus.FAILED and info.attempts == 1


def test_a_cancelled_job_raises_job_cancelled(spin: Engine) -> None:
    spin.attach_tasks(_tasks())
    job = spin.schedule_with("add", (1, 1), delay=3600)
    assert spin.cancel(job)
    with pytest.raises(JobCancelledError):
        spin.result(job, timeout=1)


def test_results_are_opt_in_per_task_and_per_job(spin: Engine) -> None:
    spin.attach_tasks(_tasks())
    kept = spin.schedule_with("plain", store_result=True)
    batch = Batch()
    batch.schedule_with("plain", result_ttl=60)
    (batched,) = spin.schedule_batch(batch)
    dropped = spin.schedule_with("add", (1, 2), store_result=False)
    plain = spin.schedule("plain")
    spin.start_workers(number=2, block=True, stop_when_queue_empty=True)
    assert spin.result(kept, timeout=5) == spin.result(batched, timeout=5) == 42
    for job in (dropped, plain):
        with pytest.raises(NoResultError, match="keeps no result: send it with store_result"):
            spin.result(job, timeout=1)


def test_an_unknown_job_has_no_result(spin: Engine) -> None:
    spin.attach_tasks(_tasks())
    with pytest.raises(NoResultError, match="No queue knows job"):
        spin.result("no-such-job", timeout=1)


def test_a_result_outlives_the_finished_record_for_its_ttl(spin: Engine) -> None:
    spin.broker.retention = Retention(finished=timedelta(0))  # no finished records at all
    spin.attach_tasks(_tasks())
    job = spin.schedule("add", 20, 22)
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert spin.get_job(job) is None
    assert spin.result(job, timeout=5) == {"sum": 42}


def test_results_expire_after_their_ttl(spin: Engine) -> None:
    spin.attach_tasks(_tasks())
    job = spin.schedule_with("add", (1, 2), result_ttl=0.2)
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert spin.result(job, timeout=5) == {"sum": 3}
    wait_for(lambda: spin.get_job(job).result_state is None, timeout=5)  # type: ignore[union-attr]
    with pytest.raises(NoResultError, match="result expired"):
        spin.result(job, timeout=1)


def test_a_queue_keeps_at_most_max_results(spin: Engine) -> None:
    spin.broker.retention = Retention(max_results=3)
    spin.attach_tasks(_tasks())
    jobs = [spin.schedule_with("add", (n, 0), result_ttl=60 + n) for n in range(6)]
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    kept = [n for n, job in enumerate(jobs) if spin.get_job(job).result_state]  # type: ignore[union-attr]
    assert kept == [3, 4, 5]  # the results closest to expiry went first
    assert spin.result(jobs[5], timeout=1) == {"sum": 5}


def test_a_failed_job_retried_from_the_store_waits_for_its_new_run(spin: Engine) -> None:
    spin.attach_tasks(_tasks())
    job = spin.schedule("boom")
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    with pytest.raises(JobFailedError):
        spin.result(job, timeout=5)
    assert spin.retry_failed(job)
    with pytest.raises(ResultTimeout):  # its old failure is no answer for the new run
        spin.result(job, timeout=0.2)


@pytest.mark.parametrize("options", [{"store_result": "yes"}, {"result_ttl": "1h"}])
def test_bad_result_options_are_refused_at_send_time(spin: Engine, options: dict) -> None:
    spin.attach_tasks(_tasks())
    with pytest.raises((TypeError, ValueError), match=r"store_result|result_ttl"):
        spin.schedule_with("plain", **options)


def test_result_ttl_with_store_result_false_is_refused(spin: Engine) -> None:
    spin.attach_tasks(_tasks())
    with pytest.raises(ValueError, match="result_ttl is given but store_result=False"):
        spin.schedule_with("plain", store_result=False, result_ttl=5)
