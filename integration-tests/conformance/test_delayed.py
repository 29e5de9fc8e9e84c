"""Delayed jobs: due time decided by Redis's clock, never early, and prompt on an idle worker."""

import statistics
from datetime import UTC, datetime, timedelta

import redis
from helpers import Ledger

from spinach import Batch, Engine, Tasks
from spinach.job import JobStatus


def redis_now(client: "redis.Redis") -> datetime:
    seconds, micros = client.time()
    return datetime.fromtimestamp(seconds + micros / 1e6, tz=UTC)


def _recording_engine(spin: Engine, raw: "redis.Redis", ledger: Ledger) -> None:
    tasks = Tasks()

    @tasks.task(name="stamp")
    def stamp(due: float) -> None:
        ledger.add((due, redis_now(raw).timestamp()))

    spin.attach_tasks(tasks)


def test_delayed_jobs_never_start_before_their_due_time_and_start_promptly(
    spin: Engine, raw: "redis.Redis", ledger: Ledger
) -> None:
    _recording_engine(spin, raw, ledger)
    spin.start_workers(number=2, block=False)
    for i in range(8):
        due = redis_now(raw) + timedelta(milliseconds=150 + 37 * i)
        spin.schedule_at("stamp", due, due.timestamp())
    lateness = [started - due for due, started in ledger.wait_for_count(8)]
    assert min(lateness) >= 0, f"a job started early: {lateness}"
    assert statistics.median(lateness) < 0.050, f"late starts: {lateness}"


def test_schedule_in_waits_by_redis_time(spin: Engine, raw: "redis.Redis", ledger: Ledger) -> None:
    _recording_engine(spin, raw, ledger)
    spin.start_workers(number=1, block=False)
    before = redis_now(raw)
    job = spin.schedule_in("stamp", timedelta(milliseconds=300), 0)
    assert job.status is JobStatus.WAITING
    [(_, started)] = ledger.wait_for_count(1)
    assert started - before.timestamp() >= 0.300


def test_a_naive_datetime_is_utc(spin: Engine, raw: "redis.Redis", ledger: Ledger) -> None:
    _recording_engine(spin, raw, ledger)
    spin.start_workers(number=1, block=False)
    due = redis_now(raw) + timedelta(milliseconds=200)
    spin.schedule_at("stamp", due.replace(tzinfo=None), due.timestamp())
    [(_, started)] = ledger.wait_for_count(1)
    assert started >= due.timestamp()


def test_a_past_due_time_runs_at_once(spin: Engine, raw: "redis.Redis", ledger: Ledger) -> None:
    _recording_engine(spin, raw, ledger)
    spin.schedule_at("stamp", datetime(2000, 1, 1), 0.0)
    assert spin.broker.queue_stats("spinach").ready == 1
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert len(ledger) == 1


def test_a_batch_mixes_immediate_and_delayed_jobs(
    spin: Engine, raw: "redis.Redis", ledger: Ledger
) -> None:
    _recording_engine(spin, raw, ledger)
    due = redis_now(raw) + timedelta(milliseconds=250)
    batch = Batch()
    batch.schedule("stamp", 0.0)
    batch.schedule_at("stamp", due, due.timestamp())
    batch.schedule_in("stamp", timedelta(milliseconds=250), due.timestamp())
    spin.schedule_batch(batch)
    stats = spin.broker.queue_stats("spinach")
    assert (stats.ready, stats.delayed) == (1, 2)

    spin.start_workers(number=2, block=True, stop_when_queue_empty=True)
    entries = ledger.entries
    assert len(entries) == 3
    assert all(started >= due_at for due_at, started in entries)


def test_stop_when_queue_empty_waits_for_delayed_jobs(
    spin: Engine, raw: "redis.Redis", ledger: Ledger
) -> None:
    _recording_engine(spin, raw, ledger)
    spin.schedule_in("stamp", timedelta(milliseconds=300), 0.0)
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert len(ledger) == 1
