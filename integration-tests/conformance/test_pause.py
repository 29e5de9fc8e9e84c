"""Pausing a queue: no job starts while it is paused, running jobs finish, nothing is lost."""

import threading
from datetime import timedelta

from helpers import Ledger, wait_for

from spinach import Batch, Engine, Tasks
from spinach.protocol import Outcome


def _tasks(ledger: Ledger, hold: threading.Event | None = None) -> Tasks:
    tasks = Tasks()

    @tasks.task(name="work")
    def work(i: int) -> None:
        ledger.add(("start", i))
        if hold is not None:
            hold.wait(10)
        ledger.add(("end", i))

    return tasks


def _fetched_since_pause(spin: Engine) -> None:
    """Wait until a worker fetched after the pause: a job due after it was promoted then.

    Only a fetch promotes due jobs, so once the marker left the delayed set a fetch ran while
    the queue was paused, and it started nothing (the caller checks the ledger).
    """
    spin.schedule_in("work", timedelta(milliseconds=50), -1)
    wait_for(
        lambda: spin.broker.queue_stats("spinach").delayed == 0,
        message="a fetch of the paused queue",
    )


def test_a_paused_queue_starts_nothing_and_runs_everything_once_resumed(
    spin: Engine, ledger: Ledger
) -> None:
    spin.attach_tasks(_tasks(ledger))
    assert spin.pause_queue() is True
    assert spin.pause_queue() is False  # already paused
    batch = Batch()
    for i in range(20):
        batch.schedule("work", i)
    spin.schedule_batch(batch)
    spin.start_workers(number=4, block=False)
    _fetched_since_pause(spin)
    assert ledger.entries == []
    status = spin.status("spinach").queues[0]
    assert status.paused is True
    assert status.ready == 21
    waiting = spin.get_job(spin.jobs("ready").jobs[0].id)
    assert waiting is not None and waiting.waiting_for == "its queue is paused"

    assert spin.resume_queue() is True
    assert spin.resume_queue() is False
    ledger.wait_for_count(42)
    spin.stop_workers()
    assert sorted(i for kind, i in ledger.entries if kind == "end") == list(range(-1, 20))
    assert spin.status("spinach").queues[0].paused is False


def test_running_jobs_finish_while_the_queue_is_paused(spin: Engine, ledger: Ledger) -> None:
    hold = threading.Event()
    spin.attach_tasks(_tasks(ledger, hold))
    spin.schedule("work", 1)
    spin.start_workers(number=2, block=False)
    ledger.wait_for_count(1)  # job 1 runs
    spin.pause_queue()
    spin.schedule("work", 2)
    hold.set()
    ledger.wait_for_count(2)
    wait_for(lambda: spin.broker.queue_stats("spinach").running == 0, message="job 1 recorded")
    _fetched_since_pause(spin)
    assert ledger.entries == [("start", 1), ("end", 1)]
    info = spin.get_job(spin.jobs("ready").jobs[0].id)
    assert info is not None and info.status.name == "QUEUED"
    spin.resume_queue()
    ledger.wait_for_count(6)
    spin.stop_workers()


def test_the_pause_outlives_worker_restarts(spin: Engine, ledger: Ledger) -> None:
    spin.attach_tasks(_tasks(ledger))
    spin.pause_queue()
    spin.schedule("work", 1)
    spin.start_workers(number=2, block=False)
    _fetched_since_pause(spin)
    spin.stop_workers()
    spin.start_workers(number=2, block=False)  # a new worker: the pause is in Redis
    _fetched_since_pause(spin)
    assert ledger.entries == []
    spin.resume_queue()
    ledger.wait_for_count(6)
    spin.stop_workers()


def test_a_worker_told_to_stop_when_the_queue_is_empty_waits_for_a_paused_queue(
    spin: Engine, ledger: Ledger
) -> None:
    spin.attach_tasks(_tasks(ledger))
    spin.pause_queue()
    spin.schedule("work", 1)
    done = threading.Event()

    def run() -> None:
        spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
        done.set()

    runner = threading.Thread(target=run)
    runner.start()
    _fetched_since_pause(spin)
    assert not done.is_set()  # jobs wait in the paused queue: it is not empty
    spin.resume_queue()
    assert done.wait(10)
    runner.join()
    assert sorted(i for kind, i in ledger.entries if kind == "end") == [-1, 1]


def test_pausing_one_queue_leaves_the_others_running(spin: Engine, ledger: Ledger) -> None:
    tasks = _tasks(ledger)
    tasks.add(lambda: ledger.add("other"), name="other", queue="other")
    spin.attach_tasks(tasks)
    spin.pause_queue("spinach")
    spin.schedule("work", 1)
    spin.schedule("other")
    spin.start_workers(number=1, block=False, queue="other")
    ledger.wait_for_count(1)
    spin.stop_workers()
    assert ledger.entries == ["other"]
    assert {q.name: q.paused for q in spin.status().queues} == {"other": False, "spinach": True}


def test_jobs_held_back_by_a_task_limit_count_as_waiting_in_a_paused_queue(spin: Engine) -> None:
    """A paused queue whose only waiting job is parked behind its task's limit is not empty:
    the fetch says so (held_ready), so a worker told to stop when the queue is empty waits."""
    tasks = Tasks()
    tasks.add(lambda i: None, name="lim", max_retries=1, max_concurrency=1)
    spin.attach_tasks(tasks)
    spin.broker.set_limits("spinach", "code", [("lim", 1)])
    first = spin.schedule("lim", 1)
    spin.schedule("lim", 2)
    taken = spin.broker.fetch("spinach", 2, 60_000, ["lim"])
    assert [job.id for job in taken.jobs] == [first.job_id]  # the second one is parked
    spin.pause_queue()
    done = (Outcome("s", first.job_id, 0, "", ""), taken.jobs[0].token)
    after = spin.broker.fetch("spinach", 2, 60_000, ["lim"], outcomes=[done])
    assert after.applied == 1 and after.jobs == []
    assert (after.ready_left, after.held_ready) == (0, 1)
