"""Job records, the failed-job store, cancellation and inspection, on every broker."""

import os
import threading
from datetime import datetime, timedelta

import pytest
import redis
from helpers import Ledger, corrupt_envelope, wait_for

from spinach import CancelResult, Engine, JobStatus, Retention, Tasks
from spinach.exc import InvalidNameError
from spinach.keys import queue_keys
from spinach.protocol import Lease, Outcome
from spinach.retry import ExponentialBackoff
from spinach_worker.acker import Acker
from spinach_worker.leases import LeaseBook
from spinach_worker.workers import ResultQueue

QUICK = ExponentialBackoff(base=timedelta(milliseconds=1), cap=timedelta(milliseconds=2))


class Flaky:
    """A task function failing while `failing` is set, recording each call."""

    def __init__(self, ledger: Ledger) -> None:
        self.failing = True
        self._ledger = ledger

    def __call__(self, n: int) -> None:
        self._ledger.add(n)
        if self.failing:
            raise ValueError(f"cannot handle {n}")


def _tasks(ledger: Ledger, flaky: Flaky | None = None) -> Tasks:
    tasks = Tasks()
    tasks.add(lambda n: ledger.add(n), name="ok")
    tasks.add(lambda n: ledger.add(n), name="mail_ok", queue="mail")
    tasks.add(flaky or Flaky(ledger), name="flaky", max_retries=1, retry_policy=QUICK)
    tasks.add(Flaky(ledger), name="once")
    return tasks


def _drain(spin: Engine, queue: str = "spinach") -> None:
    spin.start_workers(number=2, queue=queue, block=True, stop_when_queue_empty=True)


def _utc_now() -> datetime:
    return datetime.now().astimezone()


def test_a_job_is_followed_from_waiting_to_succeeded_with_redis_times(
    spin: Engine, ledger: Ledger
) -> None:
    gate = threading.Event()
    tasks = _tasks(ledger)
    tasks.add(lambda: gate.wait(10), name="slow")
    spin.attach_tasks(tasks)

    later = spin.schedule_in("ok", timedelta(hours=1), 1)
    waiting = spin.get_job(later)
    assert waiting is not None and waiting.status is JobStatus.WAITING
    assert waiting.due_at is not None and waiting.created_at is not None
    assert timedelta(minutes=59) < waiting.due_at - waiting.created_at <= timedelta(hours=1)
    assert (waiting.task, waiting.queue, waiting.attempts, waiting.args) == (
        "ok",
        "spinach",
        0,
        (1,),
    )

    job = spin.schedule("slow")
    queued = spin.get_job(job.job_id)
    assert queued is not None and queued.status is JobStatus.QUEUED and queued.worker is None

    spin.start_workers(number=1, block=False)
    wait_for(lambda: spin.get_job(job).status is JobStatus.RUNNING, message="running")  # type: ignore[union-attr]
    running = spin.get_job(job)
    assert running is not None and running.attempts == 1 and running.started_at is not None
    [worker] = spin.status().workers
    assert running.worker == worker.id and worker.jobs_running in (0, 1)

    gate.set()
    wait_for(lambda: spin.get_job(job).status is JobStatus.SUCCEEDED, message="succeeded")  # type: ignore[union-attr]
    spin.stop_workers()
    done = spin.get_job(job)
    assert done is not None and done.attempts == 1 and done.worker == worker.id
    assert done.created_at and done.started_at and done.finished_at
    assert done.created_at <= done.started_at <= done.finished_at
    assert abs(done.finished_at - _utc_now()) < timedelta(seconds=30)
    assert done.error_type is None and done.args is None  # arguments are not kept after success


def test_an_unknown_id_has_no_record_and_bad_ids_are_refused(spin: Engine) -> None:
    assert spin.get_job("no-such-job") is None
    assert spin.cancel("no-such-job") is CancelResult.NOT_FOUND
    assert not spin.cancel("no-such-job")
    assert spin.retry_failed("no-such-job") is False
    with pytest.raises(TypeError, match="job id"):
        spin.get_job(42)  # type: ignore[arg-type]


def test_a_job_failing_for_good_is_kept_with_its_error_attempts_and_arguments(
    spin: Engine, ledger: Ledger
) -> None:
    spin.attach_tasks(_tasks(ledger))
    job = spin.schedule("flaky", 7)
    _drain(spin)
    assert ledger.entries == [7, 7]  # the run and its one retry

    info = spin.get_job(job)
    assert info is not None and info.status is JobStatus.FAILED
    assert (info.error_type, info.error_message) == ("ValueError", "cannot handle 7")
    assert (info.attempts, info.max_retries, info.args, info.kwargs) == (2, 1, (7,), {})
    assert info.retriable and info.finished_at is not None
    assert spin.broker.queue_stats("spinach").failed == 1
    assert [j.id for j in spin.failed_jobs()] == [job.job_id]


def test_a_job_waiting_for_its_retry_tells_why_its_last_run_failed(
    spin: Engine, ledger: Ledger
) -> None:
    tasks = Tasks()
    later = ExponentialBackoff(base=timedelta(hours=1), cap=timedelta(hours=1))
    tasks.add(Flaky(ledger), name="slow_retry", max_retries=3, retry_policy=later)
    spin.attach_tasks(tasks)
    job = spin.schedule("slow_retry", 5)
    spin.start_workers(number=1, block=False)
    wait_for(lambda: spin.get_job(job).status is JobStatus.WAITING, message="the retry")  # type: ignore[union-attr]
    spin.stop_workers()
    info = spin.get_job(job)
    assert info is not None and (info.error_type, info.error_message) == (
        "ValueError",
        "cannot handle 5",
    )
    assert info.attempts == 1 and info.due_at is not None
    assert spin.cancel(job) and spin.get_job(job).error_type is None  # type: ignore[union-attr]


def test_failed_jobs_are_listed_newest_first_a_page_at_a_time(spin: Engine, ledger: Ledger) -> None:
    spin.attach_tasks(_tasks(ledger))
    ids = []
    for n in range(5):  # one at a time, so each fails at a later Redis millisecond
        ids.append(spin.schedule("once", n).job_id)
        _drain(spin)
        assert spin.get_job(ids[-1]).status is JobStatus.FAILED  # type: ignore[union-attr]
    spin.schedule("mail_ok", 1)
    newest_first = list(reversed(ids))

    assert [j.id for j in spin.failed_jobs()] == newest_first
    assert [j.id for j in spin.failed_jobs(limit=2)] == newest_first[:2]
    assert [j.id for j in spin.failed_jobs(offset=2, limit=2)] == newest_first[2:4]
    assert [j.id for j in spin.failed_jobs("spinach", offset=4)] == newest_first[4:]
    assert spin.failed_jobs("mail") == []
    with pytest.raises(ValueError, match="limit"):
        spin.failed_jobs(limit=0)
    with pytest.raises(InvalidNameError):
        spin.failed_jobs("bad queue")


def test_a_retried_failed_job_keeps_its_id_and_gets_a_fresh_attempt_budget(
    spin: Engine, ledger: Ledger
) -> None:
    flaky = Flaky(ledger)
    spin.attach_tasks(_tasks(ledger, flaky))
    job = spin.schedule("flaky", 1)
    _drain(spin)
    assert spin.get_job(job).status is JobStatus.FAILED  # type: ignore[union-attr]

    # Retried while the cause persists: it gets its full budget (a run and a retry) again
    assert spin.retry_failed(job) is True
    assert spin.get_job(job).status is JobStatus.QUEUED  # type: ignore[union-attr]
    assert spin.failed_jobs() == []
    _drain(spin)
    assert ledger.entries == [1, 1, 1, 1]
    again = spin.get_job(job)
    assert again is not None and again.status is JobStatus.FAILED and again.attempts == 2

    # Retried once the cause is fixed: it succeeds under the same id
    flaky.failing = False
    assert spin.retry_failed(job.job_id) is True
    _drain(spin)
    done = spin.get_job(job)
    assert done is not None and done.status is JobStatus.SUCCEEDED and done.attempts == 1
    assert spin.retry_failed(job) is False  # not in the failed store any more


def test_retry_all_and_purge_act_on_one_queue_or_on_all(spin: Engine, ledger: Ledger) -> None:
    tasks = _tasks(ledger)
    tasks.add(Flaky(ledger), name="mail_once", queue="mail")
    spin.attach_tasks(tasks)
    for n in range(3):
        spin.schedule("once", n)
    spin.schedule("mail_once", 10)
    _drain(spin)
    _drain(spin, "mail")
    assert len(spin.failed_jobs()) == 4

    assert spin.retry_all_failed("mail") == 1
    assert {j.queue for j in spin.failed_jobs()} == {"spinach"}
    assert spin.broker.queue_stats("mail").ready == 1
    assert spin.purge_failed("mail") == 0
    assert spin.purge_failed() == 3
    assert spin.failed_jobs() == []
    assert spin.retry_all_failed() == 0


def test_jobs_that_cannot_run_go_to_the_failed_store(
    spin: Engine, ledger: Ledger, make_broker, raw: "redis.Redis"
) -> None:
    spin.attach_tasks(_tasks(ledger))
    web = Engine(make_broker(), namespace=spin.namespace)
    web_tasks = Tasks()
    web_tasks.add(lambda: None, name="unknown_here")
    web.attach_tasks(web_tasks)
    unknown = web.schedule("unknown_here")
    garbled = spin.schedule("ok", 1)
    corrupt_envelope(raw, spin.namespace, garbled.job_id, b"not json")
    _drain(spin)

    by_id = {job.id: job for job in spin.failed_jobs()}
    assert by_id[unknown.job_id].error_type == "spinach_worker.decoding.UnknownJobTask"
    assert by_id[unknown.job_id].retriable  # deploy the task, then retry it
    assert by_id[garbled.job_id].error_type == "spinach_worker.decoding.CorruptJobError"
    assert not by_id[garbled.job_id].retriable
    assert spin.retry_failed(garbled) is False  # its payload cannot run again
    assert garbled.job_id in {job.id for job in spin.failed_jobs()}


def test_an_at_most_once_job_whose_worker_died_is_kept_as_failed(
    spin: Engine, ledger: Ledger
) -> None:
    spin.attach_tasks(_tasks(ledger))
    job = spin.schedule("ok", 1)
    assert spin.broker.fetch("spinach", 1, lease_ms=100, worker_id="dead").jobs
    assert spin.get_job(job).worker == "dead"  # type: ignore[union-attr]
    spin.start_workers(number=1, block=False, lease_seconds=1)
    wait_for(lambda: spin.get_job(job).status is JobStatus.FAILED, message="the report")  # type: ignore[union-attr]
    spin.stop_workers()
    info = spin.get_job(job)
    assert info is not None and info.error_type == "spinach.exc.JobAbandonedError"
    assert "at most once" in (info.error_message or "") and ledger.entries == []


def test_a_job_whose_worker_died_cannot_be_cancelled_and_reads_as_failed(
    spin: Engine, ledger: Ledger
) -> None:
    spin.attach_tasks(_tasks(ledger))
    job = spin.schedule("ok", 1)
    assert spin.broker.fetch("spinach", 1, lease_ms=1).jobs  # a worker that dies at once
    wait_for(
        lambda: (
            spin.broker.fetch("spinach", 0, lease_ms=1)
            and spin.get_job(job).status is JobStatus.FAILED
        )
    )  # type: ignore[union-attr]
    assert spin.get_job(job).error_type == "spinach.exc.JobAbandonedError"  # type: ignore[union-attr]
    assert spin.cancel(job) is CancelResult.FINISHED  # its failure is reported, not hidden
    _drain(spin)
    assert ledger.entries == [] and spin.get_job(job).status is JobStatus.FAILED  # type: ignore[union-attr]
    assert [j.id for j in spin.failed_jobs()] == [job.job_id]


def test_errors_that_are_hard_to_print_are_kept_readable(spin: Engine, ledger: Ledger) -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise KeyError("broken __str__")

    tasks = Tasks()
    tasks.add(lambda: _raise(Unprintable()), name="odd", max_retries=1, retry_policy=QUICK)
    tasks.add(
        lambda: _raise(ValueError("cannot read " + os.fsdecode(b"report-\xff.csv"))), name="bytes"
    )
    spin.attach_tasks(tasks)
    odd, undecodable = spin.schedule("odd"), spin.schedule("bytes")
    _drain(spin)
    info = spin.get_job(odd)
    assert info is not None and info.attempts == 2  # retried as usual, then failed
    assert info.error_message == "(its message could not be read)"
    info = spin.get_job(undecodable)
    assert info is not None and info.error_message == "cannot read report-\\udcff.csv"


def _raise(error: BaseException) -> None:
    raise error


def test_a_cancelled_waiting_or_queued_job_never_starts(spin: Engine, ledger: Ledger) -> None:
    spin.attach_tasks(_tasks(ledger))
    waiting = spin.schedule_in("ok", timedelta(milliseconds=50), "waiting")
    queued = spin.schedule("ok", "queued")
    spin.schedule("ok", "kept")

    assert spin.cancel(waiting) is CancelResult.CANCELLED
    assert spin.cancel(queued.job_id)
    assert spin.cancel(queued) is CancelResult.FINISHED  # twice: nothing more to do
    stats = spin.broker.queue_stats("spinach")
    # The cancelled id stays in the ready list (counted) until the fetch that pops it drops it
    assert (stats.ready, stats.delayed) == (2, 0)

    spin.schedule_in("ok", timedelta(milliseconds=100), "last")  # due after the cancelled one
    _drain(spin)
    assert sorted(ledger.entries) == ["kept", "last"]
    for job in (waiting, queued):
        info = spin.get_job(job)
        assert info is not None and info.status is JobStatus.CANCELLED
    stats = spin.broker.queue_stats("spinach")
    assert (stats.ready, stats.delayed, stats.running, stats.failed) == (0, 0, 0, 0)


def test_a_cancelled_job_held_back_by_a_limit_never_starts(spin: Engine, ledger: Ledger) -> None:
    gate = threading.Event()
    tasks = Tasks()

    @tasks.task(name="limited", max_retries=1, max_concurrency=1)
    def limited(n: int) -> None:
        ledger.add(n)
        gate.wait(10)

    spin.attach_tasks(tasks)
    spin.schedule(limited, 1)
    held = spin.schedule(limited, 2)
    spin.schedule(limited, 3)
    spin.start_workers(number=3, block=False)
    ledger.wait_for_count(1)
    # The fetch parked the others behind the limit: cancel one of them there
    wait_for(lambda: spin.broker.concurrency("spinach", "limited")[2] == 2, message="parked")
    assert spin.cancel(held) is CancelResult.CANCELLED
    gate.set()
    ledger.wait_for_count(2)
    wait_for(lambda: spin.broker.queue_stats("spinach").running == 0, message="all done")
    spin.stop_workers()
    assert ledger.entries == [1, 3]


def test_a_running_job_is_stopped_not_removed(spin: Engine, ledger: Ledger) -> None:
    # 0.0.25 left a running job alone; now its worker is asked to stop it (see
    # test_time_limits_and_cancel.py). The result is false all the same: it had started.
    gate = threading.Event()
    tasks = Tasks()
    tasks.add(lambda: (ledger.add("ran"), gate.wait(10)), name="slow")
    spin.attach_tasks(tasks)
    job = spin.schedule("slow")
    spin.start_workers(number=1, block=False)
    ledger.wait_for_count(1)
    result = spin.cancel(job)
    assert result is CancelResult.REQUESTED and not result
    wait_for(lambda: spin.get_job(job).status is JobStatus.CANCELLED, message="the stop")  # type: ignore[union-attr]
    gate.set()
    assert ledger.entries == ["ran"]


def test_records_expire_by_count_and_by_age(make_broker, namespace: str, ledger: Ledger) -> None:
    spin = Engine(
        make_broker(),
        namespace=namespace,
        retention=Retention(finished=timedelta(seconds=1), max_finished=3, max_failed=2),
    )
    spin.attach_tasks(_tasks(ledger))
    ok = [spin.schedule("ok", n) for n in range(5)]
    bad = [spin.schedule("once", n) for n in range(4)]
    _drain(spin)
    try:
        kept_ok = [job for job in ok if spin.get_job(job) is not None]
        kept_bad = [job for job in bad if spin.get_job(job) is not None]
        assert len(kept_ok) == 3 and len(kept_bad) == 2
        assert len(spin.failed_jobs()) == 2
        keys = queue_keys(namespace, "spinach")
        raw = spin.broker._r
        assert (raw.hlen(keys.done), raw.llen(keys.done_index)) == (3, 3)
        # Past their age, the heartbeat's call drops them even when no job finishes any more
        wait_for(lambda: (spin.broker.expire_records("spinach"), raw.hlen(keys.done))[1] == 0)
        assert all(spin.get_job(job) is None for job in ok)
        assert len(spin.failed_jobs()) == 2  # failed jobs keep their own, longer retention
    finally:
        spin.stop_workers()


def test_without_finished_records_a_done_job_is_simply_gone(
    make_broker, namespace: str, ledger: Ledger
) -> None:
    spin = Engine(make_broker(), namespace=namespace, retention=Retention(finished=timedelta(0)))
    spin.attach_tasks(_tasks(ledger))
    job = spin.schedule("ok", 1)
    _drain(spin)
    assert ledger.entries == [1] and spin.get_job(job) is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"finished": timedelta(seconds=-1)}, "Retention.finished"),
        ({"max_failed": -1}, "Retention.max_failed"),
        ({"failed": 3600}, "Retention.failed"),
    ],
)
def test_bad_retention_settings_are_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Retention(**settings)  # type: ignore[arg-type]


def test_status_shows_queues_workers_periodic_tasks_and_limits(
    spin: Engine, ledger: Ledger, make_broker
) -> None:
    gate = threading.Event()
    tasks = _tasks(ledger)

    @tasks.task(name="hourly", periodicity=timedelta(hours=1))
    def hourly() -> None:
        pass

    @tasks.task(name="capped", max_retries=1, max_concurrency=2)
    def capped() -> None:
        ledger.add("capped")
        gate.wait(10)

    spin.attach_tasks(tasks)
    spin.schedule("once", 1)
    _drain(spin)
    spin.schedule_in("ok", timedelta(hours=1), 2)
    spin.schedule(capped)
    spin.start_workers(number=2, block=False)
    wait_for(lambda: "capped" in ledger.entries, message="the limited job running")
    spin.schedule("mail_ok", 3)  # a queue nobody consumes here

    # Seen from another process that has none of the tasks: Redis knows the queues
    other = Engine(make_broker(), namespace=spin.namespace)
    wait_for(lambda: other.status().workers, message="a live worker")
    wait_for(lambda: other.status().periodic, message="the periodic task vouched for")
    status = other.status()
    queues = {q.name: q for q in status.queues}
    assert set(queues) == {"spinach", "mail"}
    assert (queues["spinach"].delayed, queues["spinach"].running, queues["spinach"].failed) == (
        1,
        1,
        1,
    )
    assert queues["mail"].ready == 1 and queues["mail"].oldest_ready_age is not None
    assert queues["spinach"].oldest_ready_age is None
    [worker] = status.workers
    assert worker.queue == "spinach" and worker.threads == 2 and worker.pid > 0
    assert worker.started_at is not None and worker.last_heartbeat is not None
    [periodic] = status.periodic
    assert periodic.task == "hourly" and periodic.next_run is not None
    assert timedelta(minutes=59) < periodic.next_run - _utc_now() <= timedelta(hours=1)
    [limit] = status.limits
    assert (limit.task, limit.limit, limit.running, limit.waiting) == ("capped", 2, 1, 0)
    gate.set()


def test_an_outcome_redis_cannot_take_does_not_hold_back_the_others(
    spin: Engine, ledger: Ledger
) -> None:
    spin.attach_tasks(_tasks(ledger))
    first, second = spin.schedule("ok", 1), spin.schedule("ok", 2)
    fetched = spin.broker.fetch("spinach", 2, lease_ms=60_000, worker_id="w").jobs
    book = LeaseBook()
    book.add([Lease(job.id, job.token) for job in fetched])
    source = ResultQueue()
    tokens = {job.id: job.token for job in fetched}
    # An error text that is not valid UTF-8 (a lone surrogate) next to a plain success
    source.put(
        ("spinach", Outcome("f", first.job_id, 0, "ValueError: \udcff"), tokens[first.job_id])
    )
    source.put(("spinach", Outcome("s", second.job_id), tokens[second.job_id]))
    source.put(None)
    acker = Acker(spin.broker, book, source, "spinach", "test-acker")
    acker.start()
    acker.join()
    assert spin.get_job(second).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]
    failed = spin.get_job(first)
    assert failed is not None and failed.status is JobStatus.FAILED
    assert failed.error_message == "?"
