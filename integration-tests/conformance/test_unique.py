"""Unique jobs: one live job per key, the key let go by every path that ends a job."""

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import Ledger, job_records, wait_for

from spinach import AbortException, Batch, Engine, Tasks
from spinach.ids import new_job_id
from spinach.job import JobStatus
from spinach.keys import queue_keys
from spinach.protocol import Lease
from spinach.retry import ExponentialBackoff
from spinach.utils import now_utc, wall_ms

FAST = ExponentialBackoff(base=timedelta(milliseconds=10), cap=timedelta(milliseconds=20))


class App:
    def __init__(self) -> None:
        self.ledger = Ledger()
        self.hold = threading.Event()
        self.tasks = Tasks()
        self.failures = 0
        tasks = self.tasks

        @tasks.task(name="sync", unique=True)
        def sync(account: int) -> None:
            self.ledger.add(("sync", account))

        @tasks.task(name="slow", unique=True)
        def slow(n: int) -> None:
            self.ledger.add(("slow started", n))
            self.hold.wait(10)

        @tasks.task(name="started", unique=True, unique_until="started")
        def started(n: int) -> None:
            self.ledger.add(("started", n))
            self.hold.wait(10)

        @tasks.task(name="flaky", unique=True, max_retries=3, retry_policy=FAST)
        def flaky(n: int) -> None:
            self.failures += 1
            self.ledger.add(("flaky", n))
            if self.failures < 3:
                raise ConnectionError("away for now")

        @tasks.task(name="doomed", unique=True)
        def doomed(n: int) -> None:
            self.ledger.add(("doomed", n))
            raise AbortException("never")

        @tasks.task(name="note")
        def note(text: str) -> None:
            self.ledger.add(("note", text))


@pytest.fixture
def app(spin: Engine) -> Any:
    made = App()
    spin.attach_tasks(made.tasks)
    yield made
    made.hold.set()


def held_keys(spin: Engine, queue: str = "spinach") -> int:
    """How many unique keys the queue holds (bounded memory: none once every job ended)."""
    return int(spin.broker.client.hlen(queue_keys(spin.namespace, queue).unique))


def state(spin: Engine, job_id: str) -> JobStatus | None:
    info = spin.get_job(job_id)
    return None if info is None else info.status


def test_a_duplicate_of_a_queued_job_returns_that_job_and_queues_nothing(
    spin: Engine, app: App
) -> None:
    first = spin.schedule("sync", 42)
    again = spin.schedule("sync", 42)
    other = spin.schedule("sync", 7)  # other arguments: another key
    assert (first.duplicate, again.duplicate, other.duplicate) == (False, True, False)
    assert again.job_id == first.job_id != other.job_id
    assert spin.broker.queue_stats("spinach").ready == 2
    info = spin.get_job(first.job_id)
    assert info is not None and info.unique_key is not None
    assert info.unique_key.startswith("sync:")
    spin.start_workers(number=2, block=True, stop_when_queue_empty=True)
    assert sorted(app.ledger.entries) == [("sync", 7), ("sync", 42)]
    assert held_keys(spin) == 0


def test_a_key_given_per_job_dedupes_jobs_of_a_task_not_declared_unique(
    spin: Engine, app: App
) -> None:
    first = spin.schedule_with("note", ("a",), unique_key="tenant-1")
    again = spin.schedule_with("note", kwargs={"text": "b"}, unique_key="tenant-1")
    plain = spin.schedule("note", "c")  # no key: never deduplicated
    assert again.duplicate and again.job_id == first.job_id
    assert not plain.duplicate
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert sorted(app.ledger.entries) == [("note", "a"), ("note", "c")]


def test_the_key_is_held_while_the_job_runs_and_let_go_when_it_succeeds(
    spin: Engine, app: App
) -> None:
    first = spin.schedule("slow", 1)
    spin.start_workers(number=2, block=False)
    app.ledger.wait_for_count(1)
    during = spin.schedule("slow", 1)
    assert during.duplicate and during.job_id == first.job_id
    app.hold.set()
    wait_for(lambda: state(spin, first.job_id) is JobStatus.SUCCEEDED, message="success")
    after = spin.schedule("slow", 1)
    assert not after.duplicate and after.job_id != first.job_id
    app.ledger.wait_for_count(2)
    spin.stop_workers()
    assert held_keys(spin) == 0


def test_a_key_held_until_started_lets_a_duplicate_queue_while_the_job_runs(
    spin: Engine, app: App
) -> None:
    first = spin.schedule("started", 1)
    queued_dup = spin.schedule("started", 1)
    assert queued_dup.duplicate  # still queued: one is enough
    spin.start_workers(number=2, block=False)
    app.ledger.wait_for_count(1)
    wait_for(lambda: held_keys(spin) == 0, message="the key let go at the start")
    while_running = spin.schedule("started", 1)
    assert not while_running.duplicate and while_running.job_id != first.job_id
    app.hold.set()
    app.ledger.wait_for_count(2)
    spin.stop_workers()


def test_a_job_handed_back_unstarted_takes_its_key_again(spin: Engine, app: App) -> None:
    """A key held until the job starts is let go when a worker fetches the job; a worker that
    stops before starting it hands it back, and the job holds its key again."""
    job = spin.schedule("started", 1)
    fetched = spin.broker.fetch("spinach", 1, 60_000, ["started"])
    assert [f.id for f in fetched.jobs] == [job.job_id]
    assert held_keys(spin) == 0
    assert spin.broker.release("spinach", [Lease(job.job_id, fetched.jobs[0].token)]) == 1
    assert held_keys(spin) == 1
    again = spin.schedule("started", 1)
    assert again.duplicate and again.job_id == job.job_id


def test_the_key_is_held_across_retries_and_let_go_by_a_failure_for_good(
    spin: Engine, app: App
) -> None:
    flaky = spin.schedule("flaky", 1)
    spin.start_workers(number=1, block=False)
    app.ledger.wait_for_count(1)
    retrying = spin.schedule("flaky", 1)  # failed once, waits for its retry: still live
    assert retrying.duplicate and retrying.job_id == flaky.job_id
    wait_for(lambda: state(spin, flaky.job_id) is JobStatus.SUCCEEDED, message="the 3rd run")

    doomed = spin.schedule("doomed", 1)
    wait_for(lambda: state(spin, doomed.job_id) is JobStatus.FAILED, message="the failure")
    again = spin.schedule("doomed", 1)  # the failed job is in the failed store, not live
    assert not again.duplicate
    wait_for(lambda: state(spin, again.job_id) is JobStatus.FAILED, message="the 2nd failure")
    spin.stop_workers()
    assert held_keys(spin) == 0


def test_cancelling_a_job_lets_go_of_its_key(spin: Engine, app: App) -> None:
    waiting = spin.schedule_with("sync", (1,), delay=timedelta(hours=1))
    assert spin.schedule("sync", 1).duplicate
    assert spin.cancel(waiting.job_id)
    assert held_keys(spin) == 0
    fresh = spin.schedule("sync", 1)
    assert not fresh.duplicate and fresh.job_id != waiting.job_id


def test_a_throttled_key_stays_held_for_its_time_after_the_job_ended(
    spin: Engine, app: App
) -> None:
    first = spin.schedule_with("note", ("a",), unique_key="report", unique_for=0.4)
    spin.start_workers(number=1, block=False)
    app.ledger.wait_for_count(1)
    wait_for(lambda: state(spin, first.job_id) is JobStatus.SUCCEEDED, message="success")
    throttled = spin.schedule_with("note", ("b",), unique_key="report", unique_for=0.4)
    assert throttled.duplicate and throttled.job_id == first.job_id

    def free() -> bool:
        job = spin.schedule_with("note", ("c",), unique_key="report", unique_for=0.4)
        return not job.duplicate

    wait_for(free, timeout=5, message="the throttle to end")
    app.ledger.wait_for_count(2)
    spin.stop_workers()
    assert [text for _, text in app.ledger.entries] == ["a", "c"]
    # The finished job's key was kept for its time only: the housekeeping call drops it.
    wait_for(lambda: spin.broker.expire_records("spinach") >= 0 and held_keys(spin) == 0)


def test_debounce_replaces_the_waiting_jobs_arguments_and_due_time(spin: Engine, app: App) -> None:
    first = spin.schedule_with(
        "note", ("draft 1",), delay=timedelta(hours=1), unique_key="save", debounce=True
    )
    second = spin.schedule_with(
        "note",
        ("draft 2",),
        delay=timedelta(hours=2),
        unique_key="save",
        debounce=True,
        max_retries=2,
    )
    assert second.duplicate and second.job_id == first.job_id
    info = spin.get_job(first.job_id)
    assert info is not None and info.args == ("draft 2",)
    assert info.max_retries == 2  # the budget comes with the arguments
    assert info.due_at is not None and info.created_at is not None
    assert info.due_at - info.created_at > timedelta(hours=1, minutes=59)
    spin.schedule_with("note", ("final",), unique_key="save", debounce=True)  # due now
    assert spin.broker.queue_stats("spinach").delayed == 0
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert app.ledger.entries == [("note", "final")]
    assert held_keys(spin) == 0


def test_within_one_batch_the_first_job_of_a_key_is_sent(spin: Engine, app: App) -> None:
    batch = Batch()
    batch.schedule("sync", 1)
    batch.schedule("sync", 1)
    batch.schedule_with("note", ("x",), unique_key="k")
    batch.schedule_with("note", ("y",), unique_key="k")
    batch.schedule("sync", 2)
    jobs = spin.schedule_batch(batch)
    assert [job.duplicate for job in jobs] == [False, True, False, True, False]
    assert jobs[1].job_id == jobs[0].job_id and jobs[3].job_id == jobs[2].job_id
    spin.start_workers(number=2, block=True, stop_when_queue_empty=True)
    assert sorted(app.ledger.entries) == [("note", "x"), ("sync", 1), ("sync", 2)]


def test_a_key_whose_holder_is_gone_is_free(spin: Engine, app: App) -> None:
    """A key the release missed (here: its holder's record deleted behind Spinach's back)
    blocks nothing: only a live holder holds a key."""
    first = spin.schedule("sync", 1)
    spin.broker.client.hdel(queue_keys(spin.namespace, "spinach").jobs, first.job_id)
    fresh = spin.schedule("sync", 1)
    assert not fresh.duplicate and fresh.job_id != first.job_id


def test_a_resent_call_after_a_lost_reply_names_the_same_live_jobs(
    spin: Engine, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call resent with its token (its reply was lost) is not applied again, and still says
    which live job each duplicate is."""
    first = spin.schedule("sync", 1)
    token = uuid.uuid4().hex
    monkeypatch.setattr("spinach.ids.new_call_token", lambda: token)
    task = spin.tasks.get("sync")
    _, prepared = spin._prepare(task, None, (1,), {}, now_utc(), wall_ms(), new_job_id())
    assert spin.broker.enqueue([prepared]) == {prepared.id: first.job_id}
    assert spin.cancel(first.job_id)  # the key is free now: a call applied again would send
    assert spin.broker.enqueue([prepared]) == {prepared.id: first.job_id}
    assert job_records(spin.broker.client, spin.namespace) == []  # nothing was sent


def test_bad_unique_options_are_refused_before_anything_is_sent(spin: Engine, app: App) -> None:
    with pytest.raises(TypeError, match="unique_key must be a str"):
        spin.schedule_with("note", ("a",), unique_key=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="over 256"):
        spin.schedule_with("note", ("a",), unique_key="k" * 257)
    with pytest.raises(ValueError, match="need a unique key"):
        spin.schedule_with("note", ("a",), debounce=True)
    with pytest.raises(ValueError, match="unique_until must be 'finished' or 'started'"):
        spin.schedule_with("note", ("a",), unique_key="k", unique_until="forever")
    with pytest.raises(ValueError, match="at= or delay=, not both"):
        spin.schedule_with("note", ("a",), at=datetime.now(UTC), delay=1)
    with pytest.raises(TypeError, match="args= takes a tuple"):
        spin.schedule_with("note", "a")  # type: ignore[arg-type]
    assert spin.broker.queue_stats("spinach").ready == 0
