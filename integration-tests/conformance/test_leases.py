"""Leases: a dead worker's jobs are taken over, a zombie's late outcome changes nothing."""

import threading
from datetime import timedelta

import pytest
from helpers import Ledger, wait_for

from spinach import Engine, Tasks, signals
from spinach.protocol import Lease, Outcome
from spinach.retry import ExponentialBackoff

FAST = ExponentialBackoff(base=timedelta(milliseconds=20), cap=timedelta(milliseconds=40))


@pytest.fixture
def reported(spin: Engine) -> Ledger:
    record = Ledger()

    def on_failed(namespace: str, job, err) -> None:  # type: ignore[no-untyped-def]
        record.add((job.task_name, type(err).__name__, str(err)))

    signals.job_failed.connect(on_failed, sender=spin.namespace)
    yield record
    signals.job_failed.disconnect(on_failed, sender=spin.namespace)


def _tasks(ledger: Ledger) -> Tasks:
    tasks = Tasks()

    @tasks.task(name="again", max_retries=2, retry_policy=FAST)
    def again(key: str) -> None:
        ledger.add(("again", key))

    @tasks.task(name="once")
    def once(key: str) -> None:
        ledger.add(("once", key))

    return tasks


def test_a_dead_workers_retryable_job_runs_again_counted_as_an_attempt(
    spin: Engine, ledger: Ledger, reported: Ledger
) -> None:
    spin.attach_tasks(_tasks(ledger))
    attempts: list[int] = []

    @signals.job_started.connect_via(spin.namespace)
    def started(sender: str, job) -> None:  # type: ignore[no-untyped-def]
        attempts.append(job.retries)

    spin.schedule("again", "a")
    # Given a worker that fetched the job and died without a word (its lease: 200 ms)
    dead = spin.broker.fetch("spinach", 1, lease_ms=200)
    assert len(dead.jobs) == 1

    # When a live worker runs the queue
    spin.start_workers(number=1, block=False, lease_seconds=1)

    # Then the job runs again, as its second attempt, and nothing is reported failed
    assert ledger.wait_for_count(1) == [("again", "a")]
    assert attempts == [1]
    wait_for(lambda: spin.broker.queue_stats("spinach").running == 0, message="the ack")
    assert reported.entries == []


def test_a_dead_workers_at_most_once_job_is_reported_failed_and_never_run(
    spin: Engine, ledger: Ledger, reported: Ledger
) -> None:
    spin.attach_tasks(_tasks(ledger))
    spin.schedule("once", "b")
    dead = spin.broker.fetch("spinach", 1, lease_ms=200)
    assert len(dead.jobs) == 1

    spin.start_workers(number=1, block=False, lease_seconds=1)
    [(task, error, message)] = reported.wait_for_count(1)
    assert (task, error) == ("once", "JobAbandonedError")
    assert "at most once" in message
    spin.stop_workers()
    assert ledger.entries == []
    stats = spin.broker.queue_stats("spinach")
    assert (stats.ready, stats.delayed, stats.running) == (0, 0, 0)


def test_a_job_out_of_retries_whose_worker_died_is_reported_failed(
    spin: Engine, ledger: Ledger, reported: Ledger
) -> None:
    spin.attach_tasks(_tasks(ledger))
    spin.schedule("again", "c")
    for _ in range(3):  # three workers in a row die holding it: max_retries=2 is spent
        wait_for(lambda: spin.broker.fetch("spinach", 1, lease_ms=50).jobs, message="a fetch")
    spin.start_workers(number=1, block=False, lease_seconds=1)
    [(task, error, message)] = reported.wait_for_count(1)
    assert (task, error) == ("again", "JobAbandonedError") and "no retries left (2/2)" in message
    assert ledger.entries == []


def test_a_zombies_late_outcome_is_rejected_and_changes_nothing(
    spin: Engine, ledger: Ledger
) -> None:
    spin.attach_tasks(_tasks(ledger))
    job = spin.schedule("again", "d")
    # Given a worker paused while holding the job, whose lease was then taken over
    zombie = spin.broker.fetch("spinach", 1, lease_ms=100)
    [fetched] = zombie.jobs
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True, lease_seconds=1)
    assert ledger.entries == [("again", "d")]

    # When the zombie comes back and reports a retry, then a success, with its old token
    stale = [
        (Outcome("r", str(job.id), 10), fetched.token),
        (Outcome("s", str(job.id)), fetched.token),
    ]
    applied, rejected, _ = spin.broker.finish("spinach", stale)
    released = spin.broker.release("spinach", [Lease(str(job.id), fetched.token)])

    # Then nothing applies: the job is not queued again nor deleted twice
    assert (applied, rejected, released) == (0, [str(job.id)] * 2, 0)
    stats = spin.broker.queue_stats("spinach")
    assert (stats.ready, stats.delayed, stats.running) == (0, 0, 0)


def test_the_heartbeat_keeps_the_lease_of_a_job_longer_than_the_lease(
    spin: Engine, ledger: Ledger, reported: Ledger
) -> None:
    finish = threading.Event()
    tasks = Tasks()

    @tasks.task(name="long", max_retries=3)
    def long_job() -> None:
        ledger.add("start")
        finish.wait(10)
        ledger.add("end")

    spin.attach_tasks(tasks)
    spin.schedule(long_job)
    # Two workers with a 1 s lease: if the running job's lease lapsed, the other would rerun it.
    # (Not shorter: the embedded broker runs Lua under the GIL, and on a loaded machine one
    # renewal can wait a few hundred ms for it.)
    spin.start_workers(number=2, block=False, lease_seconds=1.0)
    ledger.wait_for_count(1)
    running = spin._runtime
    assert running is not None
    wait_for(
        lambda: (
            running._heartbeat.last_renewal is not None
            and spin.broker.queue_stats("spinach").running == 1
        ),
        message="a renewal",
    )
    # Let over two lease periods pass while the job holds on (waiting on renewals, not time).
    renewals: list[float] = []
    for _ in range(7):
        last = running._heartbeat.last_renewal
        wait_for(lambda last=last: running._heartbeat.last_renewal != last, message="renewal")
        renewals.append(running._heartbeat.last_renewal or 0)
    finish.set()
    ledger.wait_for_count(2)
    spin.stop_workers()
    assert ledger.entries == ["start", "end"]
    assert reported.entries == []


def test_at_the_shutdown_timeout_a_retryable_running_job_is_handed_back(
    spin: Engine, ledger: Ledger
) -> None:
    release = threading.Event()
    tasks = Tasks()

    @tasks.task(name="stubborn", max_retries=1)
    def stubborn() -> None:
        ledger.add("start")
        release.wait(10)

    spin.attach_tasks(tasks)
    spin.schedule(stubborn)
    spin.start_workers(number=1, block=False, shutdown_timeout=0.2)
    ledger.wait_for_count(1)
    spin.stop_workers()
    stats = spin.broker.queue_stats("spinach")
    release.set()
    assert (stats.ready, stats.running) == (1, 0)


def test_at_the_shutdown_timeout_an_at_most_once_running_job_is_left_to_recovery(
    spin: Engine, ledger: Ledger, reported: Ledger
) -> None:
    release = threading.Event()
    tasks = Tasks()

    @tasks.task(name="once_slow")
    def once_slow() -> None:
        ledger.add("start")
        release.wait(10)

    spin.attach_tasks(tasks)
    spin.schedule(once_slow)
    spin.start_workers(number=1, block=False, shutdown_timeout=0.2, lease_seconds=0.5)
    ledger.wait_for_count(1)
    spin.stop_workers()
    assert spin.broker.queue_stats("spinach").running == 1
    release.set()
    # A later worker takes the expired lease back and reports the job failed; it never reruns.
    spin.start_workers(number=1, block=False, lease_seconds=0.5)
    [(task, error, _)] = reported.wait_for_count(1)
    assert (task, error) == ("once_slow", "JobAbandonedError")
    assert ledger.entries == ["start"]


def test_the_report_of_an_abandoned_job_survives_the_death_of_its_reporter(
    spin: Engine, ledger: Ledger, reported: Ledger
) -> None:
    spin.attach_tasks(_tasks(ledger))
    spin.schedule("once", "e")
    # The job's worker dies mid-run; then the worker that fetches it to report it dies too.
    assert len(spin.broker.fetch("spinach", 1, lease_ms=100).jobs) == 1
    reporter: list[bool] = []
    wait_for(
        lambda: (
            reporter.extend(j.abandoned for j in spin.broker.fetch("spinach", 1, 100).jobs)
            or reporter
        ),
        message="the abandoned job, fetched to be reported",
    )
    assert reporter == [True]

    # A third worker still reports it, once, and never runs it.
    spin.start_workers(number=1, block=False, lease_seconds=1)
    [(task, error, _)] = reported.wait_for_count(1)
    wait_for(lambda: spin.broker.queue_stats("spinach").running == 0, message="the record")
    spin.stop_workers()
    assert (task, error) == ("once", "JobAbandonedError")
    assert ledger.entries == [] and len(reported) == 1
