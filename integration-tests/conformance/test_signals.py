"""Signals: the six signals of Spinach 0.0.25, and receivers that cannot break a worker."""

import logging

import pytest
from helpers import Ledger

from spinach import Engine, Tasks, signals


def test_every_signal_fires_with_its_arguments(spin: Engine, ledger: Ledger) -> None:
    received: list[tuple[str, str]] = []
    ns = spin.namespace

    @signals.job_started.connect_via(ns)
    def started(sender: str, job) -> None:  # type: ignore[no-untyped-def]
        received.append(("job_started", job.task_name))

    @signals.job_finished.connect_via(ns)
    def finished(sender: str, job) -> None:  # type: ignore[no-untyped-def]
        received.append(("job_finished", job.task_name))

    @signals.job_schedule_retry.connect_via(ns)
    def retry(sender: str, job, err) -> None:  # type: ignore[no-untyped-def]
        received.append(("job_schedule_retry", str(err)))

    @signals.job_failed.connect_via(ns)
    def failed(sender: str, job, err) -> None:  # type: ignore[no-untyped-def]
        received.append(("job_failed", str(err)))

    @signals.worker_started.connect_via(ns)
    def worker_started(sender: str, worker_name: str) -> None:
        received.append(("worker_started", worker_name))

    @signals.worker_terminated.connect_via(ns)
    def worker_terminated(sender: str, worker_name: str) -> None:
        received.append(("worker_terminated", worker_name))

    tasks = Tasks()
    from datetime import timedelta

    from spinach.retry import ExponentialBackoff

    fast = ExponentialBackoff(base=timedelta(milliseconds=10), cap=timedelta(milliseconds=10))

    @tasks.task(name="fails_twice", max_retries=1, retry_policy=fast)
    def fails_twice() -> None:
        raise ValueError("bad")

    spin.attach_tasks(tasks)
    spin.schedule(fails_twice)
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)

    assert received == [
        ("worker_started", f"{ns}-worker-1"),
        ("job_started", "fails_twice"),
        ("job_schedule_retry", "bad"),
        ("job_finished", "fails_twice"),
        ("job_started", "fails_twice"),
        ("job_failed", "bad"),
        ("job_finished", "fails_twice"),
        ("worker_terminated", f"{ns}-worker-1"),
    ]


def test_signals_of_another_namespace_are_not_received(spin: Engine, ledger: Ledger) -> None:
    received: list[str] = []

    @signals.job_started.connect_via("some-other-namespace")
    def other(sender: str, job) -> None:  # type: ignore[no-untyped-def]
        received.append(job.task_name)

    tasks = Tasks()
    tasks.add(lambda: ledger.add("ran"), name="job")
    spin.attach_tasks(tasks)
    spin.schedule("job")
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert ledger.entries == ["ran"] and received == []


def test_a_failing_receiver_is_logged_and_never_breaks_the_worker(
    spin: Engine, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    @signals.job_started.connect_via(spin.namespace)
    def broken(sender: str, job) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("receiver bug")

    @signals.job_started.connect_via(spin.namespace)
    def healthy(sender: str, job) -> None:  # type: ignore[no-untyped-def]
        calls.append(job.task_name)

    tasks = Tasks()
    tasks.add(lambda i: ledger.add(i), name="job")
    spin.attach_tasks(tasks)
    for i in range(5):
        spin.schedule("job", i)
    with caplog.at_level(logging.ERROR, logger="spinach.signals"):
        spin.start_workers(number=2, block=True, stop_when_queue_empty=True)
    assert sorted(ledger.entries) == list(range(5))
    assert calls == ["job"] * 5
    assert sum("receiver bug" in (r.exc_text or "") for r in caplog.records) == 5
