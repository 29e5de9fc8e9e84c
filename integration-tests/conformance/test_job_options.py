"""Options of one job (`schedule_with`): its own due time and retry budget over its task's."""

from datetime import UTC, datetime, timedelta

from helpers import Ledger

from spinach import Batch, Engine, Tasks
from spinach.job import JobStatus
from spinach.retry import ExponentialBackoff

FAST = ExponentialBackoff(base=timedelta(milliseconds=10), cap=timedelta(milliseconds=20))


def _tasks(ledger: Ledger) -> Tasks:
    tasks = Tasks()

    @tasks.task(name="fails", retry_policy=FAST)  # at most once, by its task's default
    def fails(label: str, *, at: int = 0) -> None:
        ledger.add((label, at))
        raise ConnectionError("away")

    return tasks


def test_a_jobs_own_retry_budget_overrides_its_tasks(spin: Engine, ledger: Ledger) -> None:
    spin.attach_tasks(_tasks(ledger))
    plain = spin.schedule("fails", "plain")
    retried = spin.schedule_with("fails", ("retried",), max_retries=2)
    spin.start_workers(number=2, block=True, stop_when_queue_empty=True)
    assert sorted(ledger.entries) == [("plain", 0)] + [("retried", 0)] * 3
    info = spin.get_job(retried.job_id)
    assert info is not None and (info.status, info.attempts, info.max_retries) == (
        JobStatus.FAILED, 3, 2,
    )  # fmt: skip
    plain_info = spin.get_job(plain.job_id)
    assert plain_info is not None and plain_info.max_retries == 0


def test_keywords_named_like_options_reach_the_task(spin: Engine, ledger: Ledger) -> None:
    """`schedule` passes every keyword to the task (0.0.25's API); `schedule_with` takes the
    task's keywords as one dict, so a task parameter named `at` is no option."""
    spin.attach_tasks(_tasks(ledger))
    spin.schedule("fails", "schedule", at=1)
    spin.schedule_with("fails", ("with",), {"at": 2})
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert sorted(ledger.entries) == [("schedule", 1), ("with", 2)]


def test_a_due_time_given_as_at_or_as_a_delay_in_seconds(spin: Engine, ledger: Ledger) -> None:
    spin.attach_tasks(_tasks(ledger))
    later = spin.schedule_with("fails", ("later",), delay=3600)
    at = spin.schedule_with("fails", ("at",), at=datetime.now(UTC) + timedelta(hours=2))
    batch = Batch()
    batch.schedule_with("fails", ("batched",), delay=timedelta(hours=3), max_retries=1)
    (batched,) = spin.schedule_batch(batch)
    assert later.status is at.status is batched.status is JobStatus.WAITING
    assert batched.max_retries == 1
    infos = [spin.get_job(job.job_id) for job in (later, at, batched)]
    dues = [info.due_at for info in infos if info is not None]
    now = datetime.now(UTC)
    assert [round((due - now) / timedelta(hours=1)) for due in dues if due] == [1, 2, 3]
