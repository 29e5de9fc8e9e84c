"""The asyncio twin of spinach.retrying.retry: the same loop, awaiting instead of sleeping.

What is retried, for how long, and every log line and error come from
spinach.retrying.RetryLoop, so the asyncio client reports an outage exactly as the sync one.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from spinach.retrying import TRANSIENT_ERRORS, Backoff, RetryLoop, logger

T = TypeVar("T")


async def retry(
    call: Callable[[], Awaitable[T]],
    what: str,
    *,
    attempts: int | None = None,
    give_up_at: float | None = None,
    backoff: Backoff | None = None,
    log: logging.Logger = logger,
) -> T:
    """Return `await call()`, awaited again after transient errors, with backoff and jitter.

    Ends with BrokerConnectionError after `attempts` tries or after the monotonic time
    `give_up_at`; refusals raise BrokerAuthError at once; other errors propagate as they are.
    """
    loop = RetryLoop(what, attempts=attempts, give_up_at=give_up_at, backoff=backoff, log=log)
    while True:
        try:
            result = await call()
        except TRANSIENT_ERRORS as e:  # refusals among them
            delay = loop.failed(e)
        else:
            loop.succeeded()
            return result
        await asyncio.sleep(delay)
