"""Small parts of the runtime: the due-job alarm, loading an engine by name."""

import threading
import time

import pytest

from spinach_worker.alarm import Alarm
from spinach_worker.cli import build_parser
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
    assert (args.engine, args.threads, args.queue) == ("shop.tasks:spin", 8, "mail")


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
