"""Stopping one run: the exception lands only inside the task's function, never after it;
a stop asked for before the call raises at its start; a stuck run's outcome is taken over once.
The deadline watcher warns at soft limits and stops runs at hard ones."""

import threading
import time
from datetime import UTC, datetime

import pytest

from spinach import signals
from spinach.job import Job, JobStatus
from spinach.task import Task
from spinach.time_limits import JobCancelled, TimeLimitExceeded, checked_time_limits
from spinach_worker import deadlines, execution
from spinach_worker.deadlines import DeadlineWatcher
from spinach_worker.interrupts import CANCEL, TIME_LIMIT, Run, raise_in_thread

NS = "unit-interrupts"


def make(func: object = lambda: None, **limits: float) -> tuple[Job, Task]:
    task = Task(func, "t", "q", 0, None, **limits)  # type: ignore[arg-type]
    return Job("t", "q", datetime.now(UTC), 0), task


def test_a_busy_thread_is_stopped_with_the_reason_it_was_stopped_for() -> None:
    started = threading.Event()

    def spin() -> None:
        started.set()
        while True:
            pass

    job, task = make(spin, time_limit=5)
    outcomes = []

    def run() -> None:
        stop = Run(job, task)
        runs.append(stop)
        outcomes.append(execution.run(job, task, NS, lambda job: True, stop))

    runs: list[Run] = []
    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(5)
    assert runs[0].interrupt(TIME_LIMIT)
    thread.join(5)
    assert not thread.is_alive()
    [outcome] = outcomes
    assert outcome.op == "f" and outcome.error.startswith("spinach.time_limits.TimeLimitExceeded")
    assert "time limit of task 't' (5 s)" in outcome.error
    assert not runs[0].interrupt(TIME_LIMIT)  # once only


def test_no_interrupt_lands_once_the_function_returned() -> None:
    job, task = make()
    stop = Run(job, task)
    stop.enter()
    stop.leave()
    assert not stop.interrupt(CANCEL)
    time.sleep(0.01)  # a pending exception would have been raised here by now
    assert stop.end()
    assert job.cancelled  # the flag is set for cooperative code, whatever else happens


def test_an_interrupt_racing_the_end_of_the_function_never_lands_after_it() -> None:
    # The interrupt is sent while the thread is about to leave the function (blocked on the
    # run's lock, held here as interrupt() holds it): it lands within leave(), which runs in
    # the executor's try, or is cleared there; the worker's code after it is never hit.
    job, task = make()
    stop = Run(job, task)
    inside: list[str] = []
    after: list[str] = []
    entered, go = threading.Event(), threading.Event()

    def thread_body() -> None:
        stop.enter()
        entered.set()
        assert go.wait(5)
        try:
            stop.leave()
        except JobCancelled:
            inside.append("in leave")
        try:
            for _ in range(100_000):  # plenty of bytecodes for a pending exception to land
                pass
        except JobCancelled:
            after.append("after leave")

    thread = threading.Thread(target=thread_body)
    thread.start()
    assert entered.wait(5)
    with stop._lock:
        go.set()
        time.sleep(0.05)  # let it block on the lock in leave()
        stop._sent, stop.reason = True, CANCEL
        assert raise_in_thread(thread.ident or 0, JobCancelled)
    thread.join(5)
    assert after == []
    assert stop.end()


def test_a_cancel_before_the_call_raises_at_its_start() -> None:
    ran = []
    job, task = make(lambda: ran.append(1))
    stop = Run(job, task)
    assert not stop.interrupt(CANCEL)  # not sent into the function: enter() raises it
    outcome = execution.run(job, task, NS, lambda job: True, stop)
    assert ran == [] and outcome.op == "c" and job.status is JobStatus.CANCELLED


def test_a_cancelled_run_that_raised_anything_ends_cancelled_never_retried() -> None:
    job, task = make()
    job.max_retries = 5
    job._cancelled = True
    outcome = execution.conclude(job, task, NS, ConnectionError("went away"))
    assert outcome.op == "c" and job.retries == 0
    assert execution.conclude(job, task, NS, None).op == "s"  # a success stands


def test_a_stuck_run_is_taken_over_once_and_its_thread_then_records_nothing() -> None:
    release, entered = threading.Event(), threading.Event()

    def blocked() -> str:
        entered.set()
        assert release.wait(10)  # blocked in C: nothing lands before it returns
        return "late"

    job, task = make(blocked)
    stop = Run(job, task)
    finished: list[Job] = []

    def on_finished(namespace: str, job: Job) -> None:
        finished.append(job)

    signals.job_finished.connect(on_finished, sender=NS)
    outcomes = []
    thread = threading.Thread(
        target=lambda: outcomes.append(execution.run(job, task, NS, lambda job: True, stop))
    )
    try:
        thread.start()
        assert entered.wait(5)
        assert stop.take_over() and not stop.take_over()  # once
        release.set()
        thread.join(5)
    finally:
        signals.job_finished.disconnect(on_finished, sender=NS)
    assert outcomes == [execution.TAKEN_OVER] and finished == []  # no outcome, no signal
    assert not stop.end()  # the thread learns its outcome was recorded for it


def test_only_a_run_inside_its_function_is_taken_over() -> None:
    job, task = make()
    before = Run(job, task)
    assert not before.take_over()  # not in the function yet: it starts, or raises, soon
    after = Run(job, task)
    after.enter()
    assert not after.leave()
    assert not after.take_over()  # left it: its own outcome comes (slow signals or not)
    assert after.end()


def test_the_watcher_sweeps_out_ended_runs_before_their_deadlines() -> None:
    watcher = DeadlineWatcher(NS, lambda run: None, name="unit-deadlines")
    try:
        job, task = make(time_limit=3600, soft_time_limit=1800)
        runs = [Run(job, task) for _ in range(200)]
        for run in runs:
            watcher.watch(run)
        for run in runs[:150]:
            run.end()
            watcher.forget(run)
        live = [entry for entry in watcher._due if not entry[3].ended]
        assert len(live) == 2 * 50  # the runs in progress keep their deadlines
        assert len(watcher._due) <= 2 * len(live)  # and ended ones are swept out
    finally:
        watcher.stop()


def test_the_watcher_warns_at_the_soft_limit_and_stops_at_the_hard_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deadlines, "STOP_GRACE", 0.05)
    warned = threading.Event()
    stuck: list[Run] = []

    def on_soft(namespace: str, job: Job) -> None:
        warned.set()

    signals.job_soft_time_limit.connect(on_soft, sender=NS)
    started = threading.Event()

    def spin() -> None:
        started.set()
        while True:
            pass

    job, task = make(spin, time_limit=0.2, soft_time_limit=0.05)
    watcher = DeadlineWatcher(NS, stuck.append, name="unit-deadlines")
    outcomes = []

    def run() -> None:
        stop = Run(job, task)
        watcher.watch(stop)
        outcomes.append(execution.run(job, task, NS, lambda job: True, stop))
        stop.end()

    thread = threading.Thread(target=run)
    try:
        thread.start()
        assert started.wait(5) and warned.wait(5)
        thread.join(5)
        assert not thread.is_alive() and outcomes[0].op == "f"
        assert stuck == []  # it stopped within its grace: nothing to take over
    finally:
        signals.job_soft_time_limit.disconnect(on_soft, sender=NS)
        watcher.stop()


def test_the_watcher_hands_over_a_run_that_does_not_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deadlines, "STOP_GRACE", 0.05)
    release = threading.Event()
    job, task = make(lambda: release.wait(10), time_limit=0.05)
    handed = threading.Event()
    watcher = DeadlineWatcher(NS, lambda run: handed.set(), name="unit-deadlines")

    def run() -> None:
        stop = Run(job, task)
        watcher.watch(stop)
        execution.run(job, task, NS, lambda job: True, stop)

    thread = threading.Thread(target=run)
    try:
        thread.start()
        assert handed.wait(5)  # blocked in Event.wait: Python cannot interrupt it
    finally:
        release.set()
        thread.join(5)
        watcher.stop()


@pytest.mark.parametrize(
    ("hard", "soft", "error"),
    [
        (1, 1, "must be shorter than time_limit"),
        (0.001, None, "from 0.01 s to 365 days, got 0.001 s"),
        (-1, None, "from 0.01 s to 365 days, got -1 s"),
        (10**12, None, "from 0.01 s to 365 days"),  # a worker's clock cannot wait that long
        (float("inf"), None, "must be finite"),
    ],
)
def test_bad_time_limits_are_refused_with_the_reason(
    hard: float, soft: float | None, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        checked_time_limits("Task 't'", hard, soft)


def test_time_limits_are_kept_in_seconds() -> None:
    from datetime import timedelta

    assert checked_time_limits("t", timedelta(minutes=1), 2) == (60.0, 2.0)
    assert checked_time_limits("t", None, None) == (None, None)
    assert isinstance(TimeLimitExceeded("x"), BaseException)
    assert not isinstance(TimeLimitExceeded("x"), Exception)  # `except Exception` passes it on
    assert "time_limit" in str(TimeLimitExceeded())  # raised as a class: still says why
