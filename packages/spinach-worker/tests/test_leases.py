"""The lease book vouches for a lease only while Redis cannot have handed the job on."""

import time

import pytest

from spinach.protocol import Lease
from spinach_worker.leases import LeaseBook


def test_a_fresh_lease_is_vouched_for_and_another_token_is_not() -> None:
    book = LeaseBook(lease_seconds=10)
    book.add([Lease("a", "1:0:w")], sent_at=time.monotonic())
    assert book.vouches(Lease("a", "1:0:w"))
    assert not book.vouches(Lease("a", "2:0:w"))
    assert not book.vouches(Lease("b", "1:0:w"))


def test_a_lease_fetched_longer_ago_than_its_duration_is_not_vouched_for() -> None:
    book = LeaseBook(lease_seconds=1.0, margin=0.1)
    book.add([Lease("a", "t")], sent_at=time.monotonic() - 0.95)  # 1.0 - 0.1 margin: gone
    assert book.holds(Lease("a", "t")) and not book.vouches(Lease("a", "t"))


def test_a_renewal_extends_what_the_book_vouches_for_but_never_shortens_it() -> None:
    book = LeaseBook(lease_seconds=1.0, margin=0.1)
    now = time.monotonic()
    book.add([Lease("a", "t")], sent_at=now - 0.95)
    book.renewed([Lease("a", "t")], sent_at=now)
    assert book.vouches(Lease("a", "t"))
    book.renewed([Lease("a", "t")], sent_at=now - 5)  # a late reply of an older renewal
    assert book.vouches(Lease("a", "t"))
    book.renewed([Lease("a", "other")], sent_at=now)  # not ours: ignored
    assert not book.vouches(Lease("a", "other"))


def test_a_renewal_crossing_the_record_of_an_outcome_is_not_a_lost_lease(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis deletes a lease as it records the outcome: a renewal sent meanwhile finds it gone,
    and the heartbeat must not warn that the lease was lost."""
    import logging

    from spinach import Engine, MemoryBroker, Tasks
    from spinach.protocol import Outcome
    from spinach_worker.context import WorkerContext
    from spinach_worker.heartbeat import Heartbeat

    broker = MemoryBroker()
    tasks = Tasks()
    tasks.add(lambda: None, name="job")
    spin = Engine(broker, namespace="unit-settling")
    spin.attach_tasks(tasks)
    spin.schedule("job")
    [fetched] = broker.fetch("spinach", 1, lease_ms=10_000, worker_id="w").jobs
    lease = Lease(fetched.id, fetched.token)
    book = LeaseBook(lease_seconds=10)
    book.add([lease], sent_at=time.monotonic())
    ctx = WorkerContext(broker, tasks, "unit-settling", "spinach", "w", 10_000, book)
    book.settling([lease])  # the acker is sending its outcome...
    broker.finish("spinach", [(Outcome("s", fetched.id), fetched.token)])  # ...Redis records it
    with caplog.at_level(logging.WARNING, logger="spinach.worker"):
        Heartbeat(ctx, 1.0, "unit-heartbeat").beat()  # the renewal crossed it
    assert "Lost the lease" not in caplog.text
    assert book.holds(lease)  # the acker forgets it once its send returns
    assert book.pop(lease) and not book.is_settling(lease)


def test_pop_all_forgets_the_held_leases_of_a_batch_and_only_those() -> None:
    book = LeaseBook(lease_seconds=10)
    book.add([Lease("a", "1"), Lease("b", "1"), Lease("c", "2")])
    book.mark_retryable("a")
    book.settling([Lease("a", "1"), Lease("b", "1")])
    book.pop_all([Lease("a", "1"), Lease("b", "1"), Lease("c", "1")])  # c's token is not held
    assert not book.holds(Lease("a", "1")) and not book.holds(Lease("b", "1"))
    assert book.holds(Lease("c", "2"))
    assert not book.is_settling(Lease("a", "1"))
    assert book.take_retryable() == []
    assert len(book) == 1
