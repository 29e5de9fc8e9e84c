"""The one reconnecting path: backoff with jitter, transient errors retried, refusals raised."""

import logging
import threading

import pytest
import redis

from spinach.exc import BrokerAuthError, BrokerConnectionError, SchemaMismatchError
from spinach.retrying import Backoff, is_transient, retry


def test_backoff_grows_exponentially_with_jitter_up_to_a_cap() -> None:
    backoff = Backoff(first=0.1, cap=1.0)
    delays = [backoff.next_delay() for _ in range(8)]
    assert 0.05 <= delays[0] <= 0.1
    assert 0.1 <= delays[1] <= 0.2
    assert all(0.5 <= d <= 1.0 for d in delays[4:])
    assert backoff.failures == 8
    backoff.reset()
    assert backoff.next_delay() <= 0.1


class Flaky:
    """A call that fails `failures` times with `error`, then returns "done"."""

    def __init__(self, failures: int, error: BaseException) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


def test_a_transient_error_is_retried_with_one_warning_per_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    call = Flaky(3, redis.ConnectionError("Error 111 connecting to 127.0.0.1:6390."))
    with caplog.at_level(logging.INFO, logger="spinach.retrying"):
        assert retry(call, "fetch jobs", backoff=Backoff(first=0.001, cap=0.002)) == "done"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert call.calls == 4 and len(warnings) == 3
    assert all("Could not fetch jobs (Error 111" in r.getMessage() for r in warnings)
    assert all(r.exc_info is None for r in caplog.records), "no traceback for an outage"
    assert "Redis answers again" in caplog.records[-1].getMessage()


def test_a_refused_password_is_raised_at_once_with_what_to_check() -> None:
    call = Flaky(5, redis.AuthenticationError("invalid username-password pair"))
    with pytest.raises(BrokerAuthError, match="Check the user and password"):
        retry(call, "start the workers", backoff=Backoff(first=0.001, cap=0.002))
    assert call.calls == 1


def test_errors_that_are_not_about_the_connection_are_not_retried() -> None:
    call = Flaky(5, SchemaMismatchError("schema 2 here, 3 there"))
    with pytest.raises(SchemaMismatchError):
        retry(call, "start", backoff=Backoff(first=0.001, cap=0.002))
    assert call.calls == 1
    assert not is_transient(redis.AuthenticationError("no"))
    assert is_transient(redis.TimeoutError("slow"))


def test_retries_end_after_the_attempts_given() -> None:
    call = Flaky(10, redis.ConnectionError("down"))
    with pytest.raises(BrokerConnectionError, match="Could not enqueue after 3 attempts: down"):
        retry(call, "enqueue", attempts=3, backoff=Backoff(first=0.001, cap=0.002))
    assert call.calls == 3


def test_a_stop_ends_the_wait_for_redis() -> None:
    stop = threading.Event()

    def down() -> str:
        stop.set()  # the worker is asked to stop while Redis is away
        raise redis.ConnectionError("down")

    with pytest.raises(BrokerConnectionError):
        retry(down, "start the workers", stop=stop, backoff=Backoff(first=10, cap=10))


def test_a_cluster_whose_slot_is_still_moving_is_waited_for() -> None:
    """redis-py gives up on TRYAGAIN replies after its TTL of redirections with a ClusterError:
    the slot is still migrating, and the same (idempotent) call succeeds once it has moved."""
    call = Flaky(2, redis.exceptions.ClusterError("TTL exhausted."))
    assert retry(call, "enqueue", backoff=Backoff(first=0.001, cap=0.002)) == "done"
    assert call.calls == 3
    assert is_transient(redis.exceptions.ClusterDownError("CLUSTERDOWN"))
