"""Deciding a run's outcome: success, retry (by policy or at a time), abort, failure."""

import logging
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from spinach import AbortException, RetryException, signals
from spinach.job import Job, JobStatus
from spinach.retry import ExponentialBackoff
from spinach.task import Task
from spinach_worker import execution

NS = "unit-execution"


def make(
    max_retries: float = 0, retries: int = 0, policy: ExponentialBackoff | None = None
) -> tuple[Job, Task]:
    task = Task(lambda: None, "t", "q", max_retries, None, retry_policy=policy)
    job = Job("t", "q", datetime.now(UTC), max_retries)
    job.retries = retries
    return job, task


@pytest.fixture
def sent() -> Iterator[list[str]]:
    record: list[str] = []

    def on_retry(sender: str, job: Job, err: BaseException) -> None:
        record.append("retry")

    def on_failed(sender: str, job: Job, err: BaseException) -> None:
        record.append("failed")

    signals.job_schedule_retry.connect(on_retry, sender=NS)
    signals.job_failed.connect(on_failed, sender=NS)
    yield record
    signals.job_schedule_retry.disconnect(on_retry, sender=NS)
    signals.job_failed.disconnect(on_failed, sender=NS)


def test_success_is_recorded_as_succeeded(sent: list[str]) -> None:
    job, task = make()
    assert execution.conclude(job, task, NS, None) == ("s", str(job.id), 0, "", "", b"")
    assert job.status is JobStatus.SUCCEEDED and sent == []


def test_a_job_keeping_its_result_sends_it_with_its_lifetime(sent: list[str]) -> None:
    job, task = make()
    job._result_ttl_ms = 60_000
    outcome = execution.conclude(job, task, NS, None, value={"rows": [1, 2]})
    assert (outcome.op, outcome.when, outcome.result) == ("S", 60_000, b'{"rows":[1,2]}')
    assert job.status is JobStatus.SUCCEEDED and sent == []


@pytest.mark.parametrize("value", [{1, 2}, float("nan"), {"at": object()}, "x" * 600_000])
def test_a_result_that_cannot_be_kept_fails_the_job_for_good(
    sent: list[str], value: object
) -> None:
    job, task = make(max_retries=3)
    job._result_ttl_ms = 60_000
    outcome = execution.conclude(job, task, NS, None, value=value)
    assert outcome.op == "f"
    assert outcome.error.startswith("spinach.results.UnstorableResultError: Task ")
    assert job.status is JobStatus.FAILED and sent == ["failed"]


def test_a_failure_without_retries_left_fails_for_good(sent: list[str]) -> None:
    job, task = make(max_retries=2, retries=2)
    outcome = execution.conclude(job, task, NS, ValueError("bad input"))
    assert outcome.op == "f" and outcome.error == "ValueError: bad input"
    assert job.status is JobStatus.FAILED and sent == ["failed"]


def test_a_failure_with_retries_left_waits_for_the_policy_delay(sent: list[str]) -> None:
    policy = ExponentialBackoff(base=timedelta(seconds=10), cap=timedelta(seconds=10))
    job, task = make(max_retries=3, policy=policy)
    op, _, delay_ms, error, trace, _ = execution.conclude(job, task, NS, ValueError("busy"))
    assert op == "r" and 5_000 <= delay_ms <= 10_000 and error == "ValueError: busy"
    assert trace.startswith("ValueError: busy") or "ValueError: busy" in trace
    assert job.retries == 1 and job.status is JobStatus.NOT_SET and sent == ["retry"]


@pytest.mark.parametrize("tz", [UTC, timezone(timedelta(hours=-5)), None])
def test_retry_exception_at_a_time_gives_that_absolute_time(
    sent: list[str], tz: timezone | None
) -> None:
    job, task = make(max_retries=1)
    at = datetime(2030, 1, 1, 12, 0, tzinfo=tz)
    op, _, at_ms, _, trace, _ = execution.conclude(job, task, NS, RetryException("later", at=at))
    assert trace == ""  # a retry asked for is no failure: no traceback to keep
    expected = at.replace(tzinfo=UTC) if tz is None else at
    assert op == "R" and at_ms == int(expected.timestamp() * 1000)
    assert job.at == expected


def test_abort_fails_at_once_even_with_retries_left(sent: list[str]) -> None:
    job, task = make(max_retries=5)
    outcome = execution.conclude(job, task, NS, AbortException("no"))
    assert outcome.op == "f" and outcome.error == "spinach.task.AbortException: no"
    assert job.retries == 5 and sent == ["failed"]


def test_unlimited_retries_always_retry(sent: list[str]) -> None:
    job, task = make(max_retries=math.inf, retries=10_000)
    assert execution.conclude(job, task, NS, ValueError())[0] == "r"


def test_a_broken_retry_policy_fails_the_job_visibly_instead_of_losing_it(sent: list[str]) -> None:
    class Broken:
        def delay(self, attempt: int) -> timedelta:
            raise RuntimeError("policy bug")

    job, task = make(max_retries=1)
    task.retry_policy = Broken()
    outcome = execution.finish(job, task, NS, ValueError("task bug"), started=0.0)
    assert outcome[0] == "f" and job.status is JobStatus.FAILED
    assert outcome.error == "ValueError: task bug"


def test_the_retry_log_line_names_the_job_waiting_for_its_retry(
    sent: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    job, task = make(max_retries=2)
    with caplog.at_level(logging.WARNING, logger="spinach.worker"):
        execution.conclude(job, task, NS, ConnectionError("away"), duration=0.25)
    [line] = [r.getMessage() for r in caplog.records if r.name == "spinach.worker"]
    assert line.startswith(f"Job <t WAITING {job.id}> failed after 0.250s, retry 1 of 2 at ")
    assert "NOT_SET" not in line and line.endswith("ConnectionError('away')")
    assert job.status is JobStatus.NOT_SET  # what job_schedule_retry receivers saw in 0.0.25
