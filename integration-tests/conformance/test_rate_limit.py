"""Rate limits: the starts of a task's jobs are spaced by its limit, per rate key, on Redis time."""

import itertools
import time
from datetime import timedelta
from typing import Any

import pytest
from helpers import Ledger, wait_for

from spinach import Batch, Engine, Tasks
from spinach.job import JobStatus
from spinach.keys import queue_keys
from spinach.protocol import Outcome

WAITING_FOR = "its turn under its task's rate limit"


def _tasks(ledger: Ledger) -> Tasks:
    tasks = Tasks()

    @tasks.task(name="api", rate_limit="20/s", max_retries=2)  # one start every 50 ms
    def api(n: int) -> None:
        ledger.add((n, time.monotonic()))

    @tasks.task(name="plain")
    def plain(n: int) -> None:
        ledger.add(("plain", n))

    @tasks.task(name="slow_api", rate_limit="10/s", max_concurrency=1, max_retries=1)
    def slow_api(n: int) -> None:
        ledger.add(("slow_api", n))

    return tasks


@pytest.fixture
def app(spin: Engine, ledger: Ledger) -> Any:
    spin.attach_tasks(_tasks(ledger))
    return spin


def redis_ms(spin: Engine) -> float:
    seconds, micros = spin.broker.client.time()
    return int(seconds) * 1000 + int(micros) / 1000


def fetch_ids(spin: Engine, count: int = 8) -> list[str]:
    tasks = ("api", "plain", "slow_api")
    return [job.id for job in spin.broker.fetch("spinach", count, 60_000, tasks).jobs]


def test_a_burst_starts_one_job_and_gives_the_others_their_times(app: Engine) -> None:
    jobs = [app.schedule("api", n) for n in range(4)]
    assert fetch_ids(app) == [jobs[0].job_id]
    infos = [app.get_job(job) for job in jobs[1:]]
    assert {info.status for info in infos} == {JobStatus.WAITING}
    assert {info.waiting_for for info in infos} == {WAITING_FOR}
    dues = [info.due_at for info in infos]
    assert all(due is not None for due in dues)
    gaps = [later - earlier for earlier, later in itertools.pairwise(dues)]  # type: ignore[operator]
    assert all(timedelta(milliseconds=49) <= gap <= timedelta(milliseconds=51) for gap in gaps)
    assert fetch_ids(app) == []  # nothing met twice: they wait in the delayed set


def test_the_starts_are_spaced_by_the_limit(app: Engine, ledger: Ledger) -> None:
    batch = Batch()
    for n in range(5):
        batch.schedule("api", n)
    jobs = app.schedule_batch(batch)
    app.start_workers(number=4, block=False)
    ledger.wait_for_count(5)

    def ended() -> bool:
        return all(app.get_job(job).status is JobStatus.SUCCEEDED for job in jobs)  # type: ignore[union-attr]

    wait_for(ended, message="the five jobs to end")
    # The starts as Redis gave them (each lease's start, Redis time): what the limit spaces.
    # Thread start-up on a loaded host adds its own jitter afterwards, which no queue controls.
    starts = sorted(app.get_job(job).started_at for job in jobs)  # type: ignore[union-attr,type-var]
    first = starts[0]
    # The first starts at once, at its turn's time; each next one no earlier than its turn,
    # 50 ms after the one before, whatever the four threads could do.
    for n, start in enumerate(starts):
        assert start - first >= timedelta(milliseconds=50 * n), starts
    assert starts[-1] - first < timedelta(seconds=2)  # each as soon as its turn comes


def test_other_tasks_jobs_start_at_once(app: Engine) -> None:
    limited = [app.schedule("api", n) for n in range(5)]
    plain = app.schedule("plain", 1)
    assert fetch_ids(app) == [limited[0].job_id, plain.job_id]


def test_each_rate_key_is_limited_on_its_own(app: Engine) -> None:
    a1 = app.schedule_with("api", (1,), rate_key="customer-a")
    a2 = app.schedule_with("api", (2,), rate_key="customer-a")
    b1 = app.schedule_with("api", (3,), rate_key="customer-b")
    task_wide = app.schedule("api", 4)
    assert fetch_ids(app) == [a1.job_id, b1.job_id, task_wide.job_id]
    assert app.get_job(a2).waiting_for == WAITING_FOR
    assert [app.get_job(job).rate_key for job in (a1, task_wide)] == ["customer-a", ""]
    assert app.get_job(app.schedule("plain", 1)).rate_key is None


def test_an_idle_period_saves_up_no_burst(app: Engine) -> None:
    first = app.schedule("api", 0)
    assert fetch_ids(app) == [first.job_id]
    idle_from = redis_ms(app)
    wait_for(lambda: redis_ms(app) > idle_from + 200, message="four intervals of idleness")
    jobs = [app.schedule("api", n) for n in range(1, 4)]
    assert fetch_ids(app) == [jobs[0].job_id]  # one at once, the others 50 ms apart


def test_a_retry_waits_for_a_turn_again(app: Engine) -> None:
    job = app.schedule("api", 1)
    fetched = app.broker.fetch("spinach", 1, 60_000, ("api",)).jobs[0]
    retry = Outcome("r", job.job_id, 0, "ConnectionError: away")
    app.broker.fetch("spinach", 0, 60_000, ("api",), outcomes=[(retry, fetched.token)])
    assert fetch_ids(app) == []  # due at once, but the limit's next turn is 50 ms away
    assert app.get_job(job).waiting_for == WAITING_FOR
    wait_for(lambda: fetch_ids(app) == [job.job_id], message="the retry's turn")


def test_a_concurrency_limit_and_a_rate_limit_hold_together(app: Engine, ledger: Ledger) -> None:
    batch = Batch()
    for n in range(3):
        batch.schedule("slow_api", n)
    app.schedule_batch(batch)
    app.start_workers(number=3, block=False)
    assert ledger.wait_for_count(3) == [("slow_api", 0), ("slow_api", 1), ("slow_api", 2)]


def test_past_rate_times_are_dropped_by_the_housekeeper(app: Engine) -> None:
    app.schedule_with("api", (1,), rate_key="customer-a")
    assert len(fetch_ids(app)) == 1
    rates = queue_keys(app.namespace, "spinach").rates
    assert app.broker.client.zcard(rates) == 1
    until = redis_ms(app) + 60
    wait_for(lambda: redis_ms(app) > until, message="the next turn to pass")
    assert app.broker.expire_records("spinach") >= 1
    assert app.broker.client.zcard(rates) == 0


def test_bad_rate_limits_and_keys_are_refused(app: Engine) -> None:
    for spec, error in (("fast", ValueError), ("0/s", ValueError), ("5000/s", ValueError),
                        (5, TypeError)):  # fmt: skip
        with pytest.raises(error, match="rate_limit"):
            Tasks().task(lambda: None, name="t", rate_limit=spec)
    with pytest.raises(ValueError, match="rate_key needs a task with a rate limit"):
        app.schedule_with("plain", (1,), rate_key="a")
    with pytest.raises(ValueError, match="rate_key must not contain control characters"):
        app.schedule_with("api", (1,), rate_key="a\x03b")
    with pytest.raises(TypeError, match="rate_key must be a str"):
        app.schedule_with("api", (1,), rate_key=7)
    assert app.status("spinach").queues[0].ready == 0
