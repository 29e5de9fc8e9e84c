"""Calls to Redis through outages: one backoff and one retry loop, for clients and workers.

Redis restarts, fails over, and drops connections; a call that failed on one of those may
succeed a moment later. Credentials Redis refuses, or data of another schema, will not get
better by waiting: those are raised at once so that a misconfigured worker exits with the
reason instead of retrying for ever.
"""

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ClusterError,
    ReadOnlyError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from spinach.exc import BrokerAuthError, BrokerConnectionError

logger = logging.getLogger("spinach.retrying")

T = TypeVar("T")

#: Errors after which the same call may succeed later: lost connections, a Redis that is
#: restarting or loading, a replica promoted meanwhile, a cluster slot on the move.
TRANSIENT_ERRORS = (
    RedisConnectionError,
    RedisTimeoutError,
    ReadOnlyError,
    TryAgainError,
    # A cluster whose redirections did not settle within redis-py's TTL (a slot still moving:
    # TRYAGAIN after TRYAGAIN), or that is down for a failover.
    ClusterError,
    ConnectionError,
    TimeoutError,
)

#: Errors redis-py reports as connection errors that no retry mends: wrong credentials, or an
#: ACL user refused at connection time. (A NOPERM reply to one command is not a connection
#: error and is raised as it is.)
REFUSALS = (AuthenticationError, AuthorizationError)


def is_transient(error: BaseException) -> bool:
    """Whether `error` may go away if the same call is sent again later."""
    return isinstance(error, TRANSIENT_ERRORS) and not isinstance(error, REFUSALS)


def refusal(error: BaseException, what: str) -> BrokerAuthError:
    """The error to raise when Redis refused the caller's credentials."""
    return BrokerAuthError(
        f"Redis refused the connection to {what}: {error}. Check the user and password of the "
        "Redis URL"
    )


class Backoff:
    """Successive delays: `first` seconds doubling up to `cap`, each with random jitter.

    The jitter keeps a fleet of workers that lost Redis together from reconnecting in
    lockstep. The cap bounds how long a worker stays away once Redis is back.
    """

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self._first = first
        self._cap = cap
        self._attempt = 0

    def next_delay(self) -> float:
        """Return the next delay in seconds (between half and all of the exponential step)."""
        step: float = min(self._cap, self._first * 2 ** min(self._attempt, 32))
        self._attempt += 1
        return step / 2 + random.random() * step / 2

    def reset(self) -> None:
        self._attempt = 0

    @property
    def failures(self) -> int:
        return self._attempt


class RetryLoop:
    """The bookkeeping of one retry loop, shared by `retry` and the asyncio client's.

    It decides, after each failed attempt, whether the loop goes on and how long it waits,
    and words every log line and error, so that both loops behave and read alike.
    """

    def __init__(
        self,
        what: str,
        *,
        attempts: int | None = None,
        stop: "threading.Event | None" = None,
        give_up_at: float | None = None,
        backoff: Backoff | None = None,
        log: logging.Logger = logger,
    ) -> None:
        self._what = what
        self._attempts = attempts
        self._stop = stop
        self._give_up_at = give_up_at
        self._backoff = backoff or Backoff()
        self._log = log
        self.tried = 0

    def failed(self, error: Exception) -> float:
        """Return the seconds to wait before the next attempt, or raise what ends the loop.

        Call it from the `except` block of the attempt: refusals raise BrokerAuthError,
        the end of the loop BrokerConnectionError, other errors themselves.
        """
        if isinstance(error, REFUSALS):
            raise refusal(error, self._what) from None
        if not isinstance(error, TRANSIENT_ERRORS):
            raise error
        self.tried += 1
        ended = (
            (self._attempts is not None and self.tried >= self._attempts)
            or (self._stop is not None and self._stop.is_set())
            or (self._give_up_at is not None and time.monotonic() >= self._give_up_at)
        )
        if ended:
            raise BrokerConnectionError(
                f"Could not {self._what} after {self.tried} attempts: {error}. Is Redis reachable?"
            ) from error
        delay = self._backoff.next_delay()
        if self._give_up_at is not None:
            delay = max(0.0, min(delay, self._give_up_at - time.monotonic()))
        self._log.warning("Could not %s (%s); retrying in %.1fs", self._what, error, delay)
        return delay

    def succeeded(self) -> None:
        """Note a successful attempt (one INFO line if attempts failed before it)."""
        if self.tried:
            self._log.info(
                "Redis answers again: could %s after %d failed attempts", self._what, self.tried
            )


def retry(
    call: Callable[[], T],
    what: str,
    *,
    attempts: int | None = None,
    stop: threading.Event | None = None,
    give_up_at: float | None = None,
    backoff: Backoff | None = None,
    log: logging.Logger = logger,
) -> T:
    """Return `call()`, sending it again after transient errors, with backoff and jitter.

    Each failed attempt is one WARNING line naming `what` and the error. The loop ends with
    BrokerConnectionError after `attempts` tries, once `stop` is set, or after the monotonic
    time `give_up_at`; without any of them it waits for Redis as long as it takes. Refusals
    (credentials, ACL rights) raise BrokerAuthError at once; other errors propagate as they are.
    """
    loop = RetryLoop(
        what, attempts=attempts, stop=stop, give_up_at=give_up_at, backoff=backoff, log=log
    )
    while True:
        try:
            result = call()
        except TRANSIENT_ERRORS as e:  # refusals among them
            delay = loop.failed(e)
        else:
            loop.succeeded()
            return result
        if stop is not None:
            stop.wait(delay)
        else:
            time.sleep(delay)
