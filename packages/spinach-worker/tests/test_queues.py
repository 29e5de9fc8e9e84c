"""Naming a worker's queues, and sharing its free slots between them (no Redis needed)."""

import threading

import pytest

from spinach.exc import InvalidNameError
from spinach_worker.arbiter import SlotArbiter
from spinach_worker.cli import build_parser, queue_option
from spinach_worker.queues import QueuePlan, parse_queues


@pytest.mark.parametrize(
    ("spec", "plan"),
    [
        ("spinach", QueuePlan(("spinach",))),
        ("mail:2", QueuePlan(("mail:2",))),  # one str is one name, as in 0.0.25
        (["high", "default"], QueuePlan(("high", "default"))),
        (["high:5", "default:1"], QueuePlan(("high", "default"), (5, 1))),
        ([("high", 5), ("default", 1)], QueuePlan(("high", "default"), (5, 1))),
        (("high:5", ("default", 1)), QueuePlan(("high", "default"), (5, 1))),
        (["mail:eu", "mail:us"], QueuePlan(("mail:eu", "mail:us"))),  # not weights
        (["mail:eu:3", "low:1"], QueuePlan(("mail:eu", "low"), (3, 1))),
    ],
)
def test_queues_are_read_as_names_in_order_with_or_without_weights(
    spec: object, plan: QueuePlan
) -> None:
    assert parse_queues(spec) == plan  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        (["high:5", "default"], ValueError, "every queue a weight"),
        (["high:0"], ValueError, "whole number >= 1"),
        (["high:-2"], ValueError, "whole number >= 1"),
        ([("high", 2.5)], ValueError, "whole number >= 1"),
        (["a", "b", "a"], ValueError, "named twice"),
        ([], ValueError, "non-empty list"),
        (None, ValueError, "non-empty list"),
        ([["high", 1]], ValueError, "pair"),
        ([""], InvalidNameError, "non-empty"),
        (["a b:1"], InvalidNameError, "white space"),
    ],
)
def test_a_malformed_list_of_queues_says_what_is_wrong(
    spec: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        parse_queues(spec)  # type: ignore[arg-type]


def test_the_cli_takes_the_queue_option_several_times() -> None:
    parser = build_parser()
    assert queue_option(parser.parse_args(["app:spin"]).queue) == "spinach"
    assert queue_option(parser.parse_args(["app:spin", "--queue", "mail:2"]).queue) == "mail:2"
    args = parser.parse_args(["app:spin", "--queue", "high:5", "--queue", "default:1"])
    assert queue_option(args.queue) == ("high:5", "default:1")
    assert parse_queues(queue_option(args.queue)) == QueuePlan(("high", "default"), (5, 1))


class _Slots:
    """The part of an executor the arbiter reads."""

    def __init__(self, free: int) -> None:
        self.available_slots = free
        self.on_slot_free = None

    def release_waiters(self) -> None:
        pass


def test_in_strict_order_a_queue_gets_slots_only_when_those_before_it_claim_none() -> None:
    slots = _Slots(4)
    arbiter = SlotArbiter(slots, 2, None)  # type: ignore[arg-type]
    assert arbiter.acquire(1, timeout=0.01) == 0  # the first queue may have work
    assert arbiter.acquire(0, timeout=0.01) == 4
    arbiter.done(0, 4, 0, more=False)  # its fetch found nothing ready
    assert arbiter.acquire(1, timeout=0.01) == 4


def test_by_weight_free_slots_are_shared_in_proportion_and_reserved_until_done() -> None:
    slots = _Slots(8)
    arbiter = SlotArbiter(slots, 2, [3, 1])  # type: ignore[arg-type]
    assert arbiter.acquire(0, timeout=0.01) == 6
    assert arbiter.acquire(1, timeout=0.01) == 2
    assert arbiter.acquire(0, timeout=0.01) == 0  # all reserved
    arbiter.done(0, 6, 6, more=True)
    arbiter.done(1, 2, 2, more=True)
    slots.available_slots = 4
    assert (arbiter.acquire(0, timeout=0.01), arbiter.acquire(1, timeout=0.01)) == (3, 1)


def test_a_queue_back_from_idle_gets_no_burst_for_its_idle_time() -> None:
    slots = _Slots(2)
    arbiter = SlotArbiter(slots, 2, [1, 1])  # type: ignore[arg-type]
    arbiter.done(1, 0, 0, more=False)  # the second queue is idle
    for _ in range(50):
        assert arbiter.acquire(0, timeout=0.01) == 2
        arbiter.done(0, 2, 2, more=True)
    assert arbiter.acquire(1, timeout=0.01) == 1  # level with the first, not 100 behind
    assert arbiter.acquire(0, timeout=0.01) == 1


def test_a_freed_slot_wakes_a_waiting_fetcher_and_a_release_ends_every_wait() -> None:
    slots = _Slots(0)
    arbiter = SlotArbiter(slots, 2, [1, 1])  # type: ignore[arg-type]
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(arbiter.acquire(0, timeout=10)))
    waiter.start()
    slots.available_slots = 2
    while waiter.is_alive() and not got:
        assert slots.on_slot_free is not None
        slots.on_slot_free()
        waiter.join(0.01)
    assert got == [1]  # its share: the other queue may have work too
    stuck = threading.Thread(target=lambda: got.append(arbiter.acquire(0, timeout=10)))
    stuck.start()
    arbiter.release()
    stuck.join(5)
    assert not stuck.is_alive() and got == [1, 0]
