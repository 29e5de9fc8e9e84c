"""The client's estimate of Redis's clock: offsets, freshness, and steps of this host's clock."""

import pytest

from spinach import redis_clock
from spinach.redis_clock import FRESH_FOR, MAX_ROUND_TRIP_MS, RedisClock


class FakeTime:
    """This host's wall clock (s) and monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.wall = 1_000_000.0
        self.mono = 50.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(redis_clock, "time", fake)
    return fake


def test_no_estimate_before_redis_told_its_time(clock: FakeTime) -> None:
    assert RedisClock().estimate_ms("q") == 0


def test_the_estimate_follows_the_offset_measured_mid_round_trip(clock: FakeTime) -> None:
    estimates = RedisClock()
    sent = clock.wall * 1000
    clock.advance(0.002)  # a 2 ms round trip; Redis read its clock at its middle
    received = clock.wall * 1000
    estimates.observe("q", int(sent + 1 + 7_000), sent, received)  # Redis is 7 s ahead
    clock.advance(10)
    assert estimates.estimate_ms("q") == pytest.approx(clock.wall * 1000 + 7_000, abs=1)
    assert estimates.estimate_ms("other") == 0  # each queue's node has its own clock


def test_an_estimate_goes_stale_and_voids_on_a_clock_step(clock: FakeTime) -> None:
    estimates = RedisClock()
    now = clock.wall * 1000
    estimates.observe("q", int(now), now, now)
    clock.advance(FRESH_FOR + 1)
    assert estimates.estimate_ms("q") == 0  # Redis is asked again
    now = clock.wall * 1000
    estimates.observe("q", int(now), now, now)
    clock.wall += 5  # an NTP step: the wall clock jumps, the monotonic clock does not
    assert estimates.estimate_ms("q") == 0


def test_a_call_that_read_no_clock_changes_nothing(clock: FakeTime) -> None:
    estimates = RedisClock()
    now = clock.wall * 1000
    estimates.observe("q", 0, now, now)
    estimates.observe("q", int(now), now, now - 1)  # this host's clock went back meanwhile
    estimates.observe("q", int(now), now, now + MAX_ROUND_TRIP_MS + 1)  # resent: too vague
    assert estimates.estimate_ms("q") == 0
    estimates.observe("q", int(now) + 500, now, now)
    estimates.forget()
    assert estimates.estimate_ms("q") == 0
