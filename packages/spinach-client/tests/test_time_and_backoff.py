"""Time conversions never make a job early; backoff keeps 0.0.25's shape."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from spinach.retry import ExponentialBackoff
from spinach.utils import exponential_backoff, from_epoch_ms, to_epoch_ms, utc


def test_a_naive_datetime_is_utc() -> None:
    naive = datetime(2024, 5, 1, 12, 0)
    assert utc(naive) == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    paris = timezone(timedelta(hours=2))
    assert utc(datetime(2024, 5, 1, 14, 0, tzinfo=paris)) == utc(naive)


def test_epoch_milliseconds_round_up_so_a_job_is_never_early() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(microseconds=1)
    assert to_epoch_ms(at) == 1704067200001
    assert to_epoch_ms(datetime(2024, 1, 1)) == 1704067200000
    assert from_epoch_ms(1704067200000) == datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempt", "low", "high"), [(1, 3, 6), (2, 6, 12), (3, 12, 24), (12, 600, 1200)]
)
def test_the_default_backoff_is_exponential_with_equal_jitter(
    attempt: int, low: int, high: int
) -> None:
    policy = ExponentialBackoff()
    delays = [policy.delay(attempt).total_seconds() for _ in range(200)]
    assert low <= min(delays) and max(delays) <= high
    assert max(delays) - min(delays) > (high - low) / 4  # jitter really spreads them
    legacy = [exponential_backoff(attempt) for _ in range(200)]
    assert all(type(delay) is timedelta for delay in legacy)  # as in 0.0.25, not seconds
    assert timedelta(seconds=low) <= min(legacy) and max(legacy) <= timedelta(seconds=high)


def test_a_backoff_needs_sane_bounds() -> None:
    with pytest.raises(ValueError):
        ExponentialBackoff(base=timedelta(0))
