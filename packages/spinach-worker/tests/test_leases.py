"""The lease book vouches for a lease only while Redis cannot have handed the job on."""

import time

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
