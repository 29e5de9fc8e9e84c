"""Per-job priorities: higher first within a queue, first in first out within one priority."""

from datetime import timedelta
from typing import Any

import pytest
from helpers import Ledger, wait_for

from spinach import Batch, Engine, Tasks
from spinach.job import JobStatus
from spinach.protocol import Lease, Outcome
from spinach.retry import ExponentialBackoff

FAST = ExponentialBackoff(base=timedelta(milliseconds=10), cap=timedelta(milliseconds=20))


def _tasks(ledger: Ledger) -> Tasks:
    tasks = Tasks()

    @tasks.task(name="work", max_retries=3, retry_policy=FAST)
    def work(n: int) -> None:
        ledger.add(n)

    @tasks.task(name="urgent", priority=7)
    def urgent(n: int) -> None:
        ledger.add(("urgent", n))

    @tasks.task(name="limited", max_concurrency=1, max_retries=1)
    def limited(n: int) -> None:
        ledger.add(("limited", n))

    return tasks


@pytest.fixture
def app(spin: Engine, ledger: Ledger) -> Any:
    spin.attach_tasks(_tasks(ledger))
    return spin


def fetch_ids(spin: Engine, count: int, tasks: tuple[str, ...] = ("work",)) -> list[str]:
    return [job.id for job in spin.broker.fetch("spinach", count, 60_000, tasks).jobs]


def test_higher_priorities_start_first_and_each_priority_keeps_its_order(app: Engine) -> None:
    order = [(0, "a"), (-5, "b"), (5, "c"), (10, "d"), (0, "e"), (5, "f"), (-5, "g"), (10, "h")]
    batch = Batch()
    for priority, name in order:
        batch.schedule_with("work", (ord(name),), priority=priority)
    jobs = {job.task_args[0]: job.job_id for job in app.schedule_batch(batch)}
    expected = [jobs[ord(name)] for name in "dhcfaebg"]
    assert [job.id for job in app.jobs("ready").jobs] == expected  # listed as they will start
    assert [job.id for job in app.jobs("ready", offset=3, limit=4).jobs] == expected[3:7]
    assert fetch_ids(app, 3) == expected[:3]  # a fetch stops inside a priority, and goes on
    assert fetch_ids(app, 10) == expected[3:]
    assert fetch_ids(app, 10) == []


def test_the_tasks_priority_is_the_default_and_a_job_may_set_its_own(
    app: Engine, ledger: Ledger
) -> None:
    plain = app.schedule("work", 1)
    low = app.schedule_with("urgent", (2,), priority=-1)
    urgent = app.schedule("urgent", 3)
    assert [info.priority for info in map(app.get_job, (plain, low, urgent))] == [0, -1, 7]
    assert fetch_ids(app, 3, ("work", "urgent")) == [urgent.job_id, plain.job_id, low.job_id]


def test_a_burst_of_urgent_jobs_overtakes_a_backlog_at_once(
    app: Engine, ledger: Ledger, broker_kind: str
) -> None:
    backlog = 100_000 if broker_kind == "redis" else 5_000  # the embedded broker is slower
    for first in range(0, backlog, 10_000):
        batch = Batch()
        for n in range(first, min(first + 10_000, backlog)):
            batch.schedule_with("work", (n,), priority=-1)
        app.schedule_batch(batch)
    burst = Batch()
    for n in range(20):
        burst.schedule_with("work", (-n,), priority=10)
    urgent = {job.job_id for job in app.schedule_batch(burst)}
    assert app.status("spinach").queues[0].ready == backlog + 20
    assert set(fetch_ids(app, 20)) == urgent
    page = app.jobs("ready", limit=3)
    assert page.total == backlog
    assert [job.args for job in page.jobs] == [(0,), (1,), (2,)]


def test_a_retried_job_keeps_its_priority(app: Engine) -> None:
    """A retry waits in the delayed set; promoted, it goes back to its priority."""
    job = app.schedule_with("work", (1,), priority=3)
    fetched = app.broker.fetch("spinach", 1, 60_000, ("work",)).jobs[0]
    retry = Outcome("r", job.job_id, 0, "ValueError: once")
    app.broker.fetch("spinach", 0, 60_000, ("work",), outcomes=[(retry, fetched.token)])
    plain = app.schedule("work", 2)
    assert fetch_ids(app, 2) == [job.job_id, plain.job_id]


def test_a_job_handed_back_goes_to_the_front_of_its_priority(app: Engine) -> None:
    first = app.schedule_with("work", (1,), priority=2)
    second = app.schedule_with("work", (2,), priority=2)
    fetched = app.broker.fetch("spinach", 1, 60_000, ("work",)).jobs
    assert [job.id for job in fetched] == [first.job_id]
    app.schedule_with("work", (3,), priority=2)
    assert app.broker.release("spinach", [Lease(first.job_id, fetched[0].token)]) == 1
    assert fetch_ids(app, 2) == [first.job_id, second.job_id]


def test_run_now_and_retry_failed_keep_the_priority(app: Engine, ledger: Ledger) -> None:
    plain = app.schedule("work", 1)
    later = app.schedule_with("work", (2,), priority=4, delay=timedelta(hours=1))
    assert app.run_now(later)
    assert fetch_ids(app, 1) == [later.job_id]

    fetched = app.broker.fetch("spinach", 1, 60_000, ("work",)).jobs[0]
    assert fetched.id == plain.job_id
    doomed = app.schedule_with("work", (3,), priority=-2, max_retries=0)
    failed = app.broker.fetch("spinach", 1, 60_000, ("work",)).jobs[0]
    assert failed.id == doomed.job_id
    app.broker.fetch(
        "spinach", 0, 60_000, ("work",), outcomes=[(Outcome("f", doomed.job_id), failed.token)]
    )
    assert app.get_job(doomed).status is JobStatus.FAILED
    app.schedule("work", 4)
    assert app.retry_failed(doomed)
    assert app.get_job(doomed).priority == -2
    ids = fetch_ids(app, 2)
    assert ids[1] == doomed.job_id  # after the default-priority job sent before it


def test_a_cancelled_ranked_job_leaves_at_once(app: Engine) -> None:
    job = app.schedule_with("work", (1,), priority=5)
    assert app.cancel(job).name.lower() == "cancelled"
    assert app.status("spinach").queues[0].ready == 0
    assert fetch_ids(app, 5) == []


def test_a_limited_tasks_jobs_keep_priority_order_until_parked(app: Engine, ledger: Ledger) -> None:
    low = app.schedule_with("limited", (1,), priority=-3)
    high = app.schedule_with("limited", (2,), priority=3)
    app.start_workers(number=2, block=False)
    ledger.wait_for_count(2)
    assert ledger.entries == [("limited", 2), ("limited", 1)]
    wait_for(
        lambda: {app.get_job(j).status for j in (low, high)} == {JobStatus.SUCCEEDED},
        message="both jobs recorded as succeeded",
    )


def test_bad_priorities_are_refused_before_anything_is_sent(app: Engine) -> None:
    for bad, error in ((11, ValueError), (-11, ValueError), (True, TypeError), ("hi", TypeError)):
        with pytest.raises(error, match="priority"):
            app.schedule_with("work", (1,), priority=bad)
    with pytest.raises(ValueError, match="priority must be from -10 to 10"):
        Tasks().task(lambda: None, name="t", priority=99)
    assert app.status("spinach").queues[0].ready == 0
