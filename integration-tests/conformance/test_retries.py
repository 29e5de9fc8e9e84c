"""Retries: at most once by default, at least once with max_retries, steered by the task."""

from datetime import UTC, datetime, timedelta

import pytest
import redis
from helpers import Ledger

from spinach import AbortException, Engine, RetryException, Tasks, signals
from spinach.keys import queue_keys
from spinach.retry import ExponentialBackoff

FAST = ExponentialBackoff(base=timedelta(milliseconds=20), cap=timedelta(milliseconds=80))


@pytest.fixture
def failures(spin: Engine) -> Ledger:
    """Every job_failed and job_schedule_retry signal of the engine's namespace."""
    record = Ledger()

    def on_failed(namespace: str, job, err) -> None:  # type: ignore[no-untyped-def]
        record.add(("failed", job.task_name, job.retries, type(err).__name__))

    def on_retry(namespace: str, job, err) -> None:  # type: ignore[no-untyped-def]
        record.add(("retry", job.task_name, job.retries, type(err).__name__))

    signals.job_failed.connect(on_failed, sender=spin.namespace)
    signals.job_schedule_retry.connect(on_retry, sender=spin.namespace)
    yield record
    signals.job_failed.disconnect(on_failed, sender=spin.namespace)
    signals.job_schedule_retry.disconnect(on_retry, sender=spin.namespace)


def test_a_failing_job_without_retries_runs_once_and_is_reported(
    spin: Engine, ledger: Ledger, failures: Ledger
) -> None:
    tasks = Tasks()

    @tasks.task(name="boom")
    def boom() -> None:
        ledger.add("ran")
        raise ValueError("nope")

    spin.attach_tasks(tasks)
    spin.schedule(boom)
    spin.start_workers(number=2, block=True, stop_when_queue_empty=True)
    assert ledger.entries == ["ran"]
    assert failures.entries == [("failed", "boom", 0, "ValueError")]


def test_a_failing_job_is_retried_up_to_max_retries(
    spin: Engine, ledger: Ledger, failures: Ledger
) -> None:
    tasks = Tasks()

    @tasks.task(name="flaky", max_retries=2, retry_policy=FAST)
    def flaky() -> None:
        ledger.add("ran")
        raise ValueError("nope")

    spin.attach_tasks(tasks)
    spin.schedule(flaky)
    spin.start_workers(number=2, block=True, stop_when_queue_empty=True)
    assert ledger.entries == ["ran"] * 3
    assert failures.entries == [
        ("retry", "flaky", 1, "ValueError"),
        ("retry", "flaky", 2, "ValueError"),
        ("failed", "flaky", 2, "ValueError"),
    ]


def test_a_job_that_succeeds_on_retry_is_not_reported_failed(
    spin: Engine, ledger: Ledger, failures: Ledger
) -> None:
    tasks = Tasks()
    attempts: list[int] = []

    @tasks.task(name="second_time", max_retries=3, retry_policy=FAST)
    def second_time() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("transient")
        ledger.add("done")

    spin.attach_tasks(tasks)
    spin.schedule(second_time)
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert ledger.entries == ["done"]
    assert failures.entries == [("retry", "second_time", 1, "ConnectionError")]


def test_the_default_retry_delay_is_the_exponential_backoff(
    spin: Engine, raw: "redis.Redis"
) -> None:
    tasks = Tasks()

    @tasks.task(name="later", max_retries=5)
    def later() -> None:
        raise ValueError("retry me")

    spin.attach_tasks(tasks)
    spin.schedule(later)
    seconds, micros = raw.time()
    now_ms = seconds * 1000 + micros // 1000
    spin.start_workers(number=1, block=False)
    from helpers import wait_for

    wait_for(lambda: spin.broker.queue_stats("spinach").delayed == 1, message="the retry")
    spin.stop_workers()
    [(_, due_ms)] = raw.zrange(
        queue_keys(spin.namespace, "spinach").delayed, 0, -1, withscores=True
    )
    assert 3000 <= due_ms - now_ms <= 6500


@pytest.mark.parametrize("aware", [True, False], ids=["aware", "naive"])
def test_retry_exception_at_a_time_retries_then(
    spin: Engine, raw: "redis.Redis", ledger: Ledger, aware: bool
) -> None:
    tasks = Tasks()
    seconds, micros = raw.time()
    retry_at = datetime.fromtimestamp(seconds + micros / 1e6 + 0.3, tz=UTC)

    @tasks.task(name="steered", max_retries=1)
    def steered() -> None:
        seconds, micros = raw.time()
        ledger.add(seconds + micros / 1e6)
        if len(ledger) == 1:
            raise RetryException("later", at=retry_at if aware else retry_at.replace(tzinfo=None))

    spin.attach_tasks(tasks)
    spin.schedule(steered)
    spin.start_workers(number=2, block=True, stop_when_queue_empty=True)
    _, second = ledger.entries
    assert second >= retry_at.timestamp()
    assert spin._runtime is None


def test_retry_exception_without_retries_left_fails(spin: Engine, failures: Ledger) -> None:
    tasks = Tasks()

    @tasks.task(name="no_budget")
    def no_budget() -> None:
        raise RetryException("please")

    spin.attach_tasks(tasks)
    spin.schedule(no_budget)
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert failures.entries == [("failed", "no_budget", 0, "RetryException")]


def test_abort_exception_stops_retrying(spin: Engine, ledger: Ledger, failures: Ledger) -> None:
    tasks = Tasks()

    @tasks.task(name="fatal", max_retries=5, retry_policy=FAST)
    def fatal() -> None:
        ledger.add("ran")
        raise AbortException("give up")

    spin.attach_tasks(tasks)
    spin.schedule(fatal)
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert ledger.entries == ["ran"]
    assert failures.entries == [("failed", "fatal", 5, "AbortException")]


@pytest.mark.parametrize("error", [SystemExit, KeyboardInterrupt, GeneratorExit, BaseException])
def test_a_base_exception_never_kills_a_worker_thread(
    spin: Engine, ledger: Ledger, failures: Ledger, error: type[BaseException]
) -> None:
    import threading

    tasks = Tasks()
    barrier = threading.Barrier(3, timeout=10)

    @tasks.task(name="killer")
    def killer() -> None:
        raise error()

    @tasks.task(name="together")
    def together() -> None:
        barrier.wait()
        ledger.add("ok")

    spin.attach_tasks(tasks)
    for _ in range(6):
        spin.schedule(killer)
    for _ in range(3):
        spin.schedule(together)
    # Three jobs can only meet at the barrier if all three threads are still alive.
    spin.start_workers(number=3, block=True, stop_when_queue_empty=True)
    assert ledger.entries == ["ok"] * 3
    assert len(failures) == 6
