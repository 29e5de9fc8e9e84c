"""Small parts of the runtime: the due-job alarm, loading an engine by name."""

import threading
import time

import pytest

from spinach_worker.alarm import Alarm
from spinach_worker.cli import build_parser, queue_option
from spinach_worker.loading import load_engine


def test_the_alarm_rings_once_at_the_last_time_set() -> None:
    rang: list[float] = []
    done = threading.Event()

    def ring() -> None:
        rang.append(time.monotonic())
        done.set()

    alarm = Alarm(ring, name="test-alarm")
    try:
        start = time.monotonic()
        alarm.set(10.0)
        alarm.set(0.05)  # replaces the first
        assert done.wait(5)
        assert 0.05 <= rang[0] - start < 1.0
        alarm.set(None)
        assert not done.wait(0.1) or len(rang) == 1
    finally:
        alarm.close()
    assert len(rang) == 1


def test_the_cli_takes_the_engine_threads_and_queue() -> None:
    args = build_parser().parse_args(["shop.tasks:spin", "--threads", "8", "--queue", "mail"])
    assert (args.engine, args.threads, queue_option(args.queue)) == ("shop.tasks:spin", 8, "mail")


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("no_colon", ValueError),
        ("json:dumps", TypeError),
        ("no_such_module_xyz:spin", ModuleNotFoundError),
    ],
)
def test_loading_something_that_is_not_an_engine_says_so(path: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        load_engine(path)


def test_the_watchdog_reports_a_fetch_loop_that_stopped_turning_once() -> None:
    from spinach_worker.watchdog import Watchdog

    stuck = threading.Event()
    alive = threading.Thread(target=stuck.wait, args=(5,))
    alive.start()
    reported: list[BaseException] = []
    try:
        last_turn = time.monotonic() - 100
        watchdog = Watchdog(
            last_turn=lambda: last_turn,
            thread=lambda: alive,
            stuck_after=30,
            on_stuck=reported.append,
            interval=60,
            name="test-watchdog",
        )
        assert watchdog.check()
        assert len(reported) == 1 and "no progress for 100s" in str(reported[0])
        last_turn = time.monotonic()
        assert not watchdog.check()
        assert len(reported) == 1
    finally:
        stuck.set()
        alive.join()


def test_a_lease_is_forgotten_only_with_its_own_token() -> None:
    from spinach.protocol import Lease
    from spinach_worker.leases import LeaseBook

    book = LeaseBook()
    book.add([Lease("job", "1")])
    book.add([Lease("job", "2")])  # fetched again after the first lease expired
    assert not book.pop(Lease("job", "1"))  # the older run's outcome must not touch it
    assert book.holds(Lease("job", "2"))
    assert book.take([Lease("job", "1"), Lease("job", "2")]) == [Lease("job", "2")]
    assert len(book) == 0


@pytest.mark.parametrize("task", ["job", "unknown"], ids=["run", "reported"])
def test_draining_a_queue_never_sleeps_on_its_wake_list_while_jobs_were_just_fetched(
    task: str,
) -> None:
    """stop_when_queue_empty returns once the fetched jobs are done, not after an idle sleep:
    a job run by a thread, or one the reporter fails (its task is unknown to this worker)."""
    from spinach import Engine, MemoryBroker, Tasks

    tasks = Tasks()
    ran: list[int] = []
    tasks.add(ran.append, name="job")
    tasks.add(ran.append, name="unknown")

    broker = MemoryBroker()
    slept: list[float] = []
    real_wait = broker.wait_for_wake

    def wait_for_wake(queue: str, worker_id: str, timeout: float) -> bool:
        slept.append(timeout)
        return real_wait(queue, worker_id, timeout)

    broker.wait_for_wake = wait_for_wake  # type: ignore[method-assign]
    spin = Engine(broker, namespace="unit-drain")
    spin.attach_tasks(tasks)
    job_id = spin.schedule(task, 1).job_id
    del spin.tasks.tasks["unknown"]  # as if sent by an app that has a task this worker lacks
    spin.start_workers(number=2, block=True, stop_when_queue_empty=True)
    assert ran == ([1] if task == "job" else [])
    info = spin.get_job(job_id)
    assert info is not None and info.status.name == ("SUCCEEDED" if task == "job" else "FAILED")
    assert slept == []  # before the fix: one sleep of the idle timeout after the last fetch


def test_an_outcome_the_acker_has_taken_but_not_recorded_keeps_it_busy() -> None:
    """Idle means recorded, not "nothing left in the queue": the acker's thread may have taken
    an outcome and be waiting for the GIL before it counts it as in hand."""
    from spinach import MemoryBroker
    from spinach.protocol import Lease, Outcome
    from spinach_worker.acker import Acker
    from spinach_worker.leases import LeaseBook
    from spinach_worker.workers import ResultQueue

    book = LeaseBook()
    book.add([Lease("job-1", "L1")], time.monotonic())
    source = ResultQueue()
    acker = Acker(MemoryBroker(), book, source, "q", "unit-acker")  # its thread not started
    assert acker.idle
    source.put(("q", Outcome("s", "job-1"), "L1"))
    assert not acker.idle
    source.get()  # what the acker's thread does first, before it marks itself busy
    assert source.empty() and not acker.idle


def test_the_cli_takes_a_prefetch_and_refuses_a_negative_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert build_parser().parse_args(["shop.tasks:spin"]).prefetch is None  # auto
    assert build_parser().parse_args(["shop.tasks:spin", "--prefetch", "16"]).prefetch == 16
    for bad in ("-1", "lots"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["shop.tasks:spin", "--prefetch", bad])
        assert "must be a whole number >= 0" in capsys.readouterr().err
