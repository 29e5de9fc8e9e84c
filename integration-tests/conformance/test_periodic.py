"""Periodic tasks: scheduled by the workers themselves, one job per tick, on Redis's clock."""

import itertools
from datetime import timedelta

import pytest
import redis
from helpers import Ledger, wait_for

from spinach import Engine, Tasks, signals


def _redis_seconds(raw: "redis.Redis") -> float:
    seconds, micros = raw.time()
    return float(seconds + micros / 1e6)


def _periodic(ledger: Ledger, raw: "redis.Redis", every: timedelta, name: str = "tick") -> Tasks:
    tasks = Tasks()

    @tasks.task(name=name, periodicity=every)
    def tick() -> None:
        ledger.add(_redis_seconds(raw))

    return tasks


def test_a_periodic_task_runs_once_per_period_without_any_beat_process(
    spin: Engine, raw: "redis.Redis", ledger: Ledger
) -> None:
    spin.attach_tasks(_periodic(ledger, raw, timedelta(milliseconds=200)))
    started = _redis_seconds(raw)
    spin.start_workers(number=2, block=False)
    runs = ledger.wait_for_count(5, timeout=10)
    spin.stop_workers()
    # The first run is one period after registration, then one per period, never early.
    assert runs[0] - started >= 0.2
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert all(0.19 <= gap <= 0.35 for gap in gaps), gaps


def test_sub_second_periods_are_honoured_not_rounded_to_zero(
    spin: Engine, raw: "redis.Redis", ledger: Ledger
) -> None:
    spin.attach_tasks(_periodic(ledger, raw, timedelta(milliseconds=50)))
    spin.start_workers(number=2, block=False)
    first = ledger.wait_for_count(1)[0]
    ledger.wait_for_count(10)
    spin.stop_workers()
    runs = [t for t in ledger.entries if t <= first + 0.5]
    # 0.0.25 rounded 500 ms to 0 and ran a task 1,600 times in 3 s; here: one run per 50 ms.
    assert 8 <= len(runs) <= 12, runs


def test_periodic_jobs_send_the_usual_signals(
    spin: Engine, raw: "redis.Redis", ledger: Ledger
) -> None:
    spin.attach_tasks(_periodic(ledger, raw, timedelta(milliseconds=100)))
    seen: list[tuple[str, tuple[object, ...]]] = []

    @signals.job_finished.connect_via(spin.namespace)
    def finished(sender: str, job) -> None:  # type: ignore[no-untyped-def]
        seen.append((job.task_name, job.task_args))

    spin.start_workers(number=1, block=False)
    ledger.wait_for_count(2)
    spin.stop_workers()
    assert seen[:2] == [("tick", ()), ("tick", ())]


def test_a_deployment_never_removes_the_periodic_tasks_of_another(
    make_broker, namespace: str, raw: "redis.Redis", ledger: Ledger
) -> None:
    other = Ledger()
    # Both deployments' workers serve the same queue and either may fetch any tick's job, so
    # each can also run the other's task, as a plain one (a worker that does not know a job's
    # task fails it, and the two could then fail each other's ticks for good); each declares
    # only its own as periodic.
    a_tasks = _periodic(ledger, raw, timedelta(milliseconds=100), name="a_task")
    a_tasks.add(lambda: other.add(_redis_seconds(raw)), name="b_task")
    b_tasks = _periodic(other, raw, timedelta(milliseconds=100), name="b_task")
    b_tasks.add(lambda: ledger.add(_redis_seconds(raw)), name="a_task")

    # Given deployment A scheduling its periodic task
    first = Engine(make_broker(), namespace=namespace)
    first.attach_tasks(a_tasks)
    second = Engine(make_broker(), namespace=namespace)
    try:
        first.start_workers(number=1, block=False)
        wait_for(lambda: "a_task" in first.broker.periodic_schedule("spinach"), message="A's task")

        # When deployment B, which declares other periodic tasks only, starts on the namespace
        second.attach_tasks(b_tasks)
        second.start_workers(number=1, block=False)
        other.wait_for_count(2)

        # Then A's task is still scheduled and still runs
        count = len(ledger)
        ledger.wait_for_count(count + 2)
        assert set(first.broker.periodic_schedule("spinach")) == {"a_task", "b_task"}
    finally:
        first.stop_workers()
        second.stop_workers()


def test_a_periodic_task_no_live_worker_declares_stops_ticking(
    make_broker, namespace: str, raw: "redis.Redis", ledger: Ledger
) -> None:
    gone = Engine(make_broker(), namespace=namespace)
    gone.attach_tasks(_periodic(ledger, raw, timedelta(milliseconds=100), name="old_task"))
    gone.start_workers(number=1, block=False, lease_seconds=0.6)  # renews every 0.2 s
    ledger.wait_for_count(1)
    gone.stop_workers()

    staying = Engine(make_broker(), namespace=namespace)
    staying.attach_tasks(_periodic(Ledger(), raw, timedelta(milliseconds=100), name="new_task"))
    staying.start_workers(number=1, block=False, lease_seconds=0.6)
    wait_for(
        lambda: set(staying.broker.periodic_schedule("spinach")) == {"new_task"},
        message="the old task to leave the schedule",
    )
    count = len(ledger)
    staying.stop_workers()
    assert len(ledger) == count


def test_a_removed_periodic_task_stays_off_until_resumed(
    spin: Engine, raw: "redis.Redis", ledger: Ledger
) -> None:
    spin.attach_tasks(_periodic(ledger, raw, timedelta(milliseconds=100)))
    spin.start_workers(number=1, block=False, lease_seconds=0.6)
    ledger.wait_for_count(1)
    assert spin.remove_periodic_task("tick") is True
    assert "tick" not in spin.broker.periodic_schedule("spinach")
    # Several renewals later the worker, which still declares it, has not brought it back.
    runtime = spin._runtime
    assert runtime is not None
    for _ in range(3):
        last = runtime._heartbeat.last_renewal
        wait_for(lambda last=last: runtime._heartbeat.last_renewal != last, message="renewal")
    assert "tick" not in spin.broker.periodic_schedule("spinach")
    assert spin.resume_periodic_task("tick") is True
    wait_for(lambda: "tick" in spin.broker.periodic_schedule("spinach"), message="the resume")
    spin.stop_workers()


def test_a_periodicity_under_a_millisecond_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one millisecond"):
        Tasks().add(lambda: None, name="t", periodicity=timedelta(microseconds=10))


def test_after_a_long_downtime_a_periodic_task_runs_once_not_once_per_missed_tick(
    spin: Engine, raw: "redis.Redis", ledger: Ledger
) -> None:
    spin.attach_tasks(_periodic(ledger, raw, timedelta(milliseconds=100)))
    spin.start_workers(number=1, block=False)
    ledger.wait_for_count(1)
    spin.stop_workers()
    stopped = _redis_seconds(raw)
    count = len(ledger)

    # Ten periods pass with no worker at all (measured on Redis's clock).
    wait_for(lambda: _redis_seconds(raw) > stopped + 1.0, message="ten missed ticks")
    restarted = _redis_seconds(raw)
    spin.start_workers(number=1, block=False)
    ledger.wait_for_count(count + 2)
    spin.stop_workers()
    after = [t for t in ledger.entries[count:] if t < restarted + 0.09]
    assert len(after) == 1, ledger.entries[count:]
