"""The application the dashboard's integration tests watch: tasks that succeed, fail and wait.

`FLAKY_ALLOWED` lets the test decide when the flaky task starts succeeding, so that a retry
clicked in the dashboard visibly turns a failed job into a succeeded one.
"""

import threading
from datetime import timedelta

from spinach import Tasks

tasks = Tasks()

#: Set by a test: from then on, `flaky` succeeds.
FLAKY_ALLOWED = threading.Event()
#: Holds `slow` jobs running until a test sets it.
RELEASE_SLOW = threading.Event()


@tasks.task(name="shop:send_invoice", queue="billing")
def send_invoice(order: int) -> None:
    pass


@tasks.task(name="shop:charge", queue="billing", max_retries=0)
def flaky(order: int, *, note: str = "") -> None:
    if not FLAKY_ALLOWED.is_set():
        raise RuntimeError(f"card declined for order {order}")


@tasks.task(name="shop:refund", queue="billing", max_retries=0)
def refund(order: int) -> None:
    raise RuntimeError(f"refund refused for order {order}")


@tasks.task(name="shop:render", queue="billing", max_retries=0)
def slow(order: int) -> None:
    RELEASE_SLOW.wait(30)


@tasks.task(name="shop:nightly_report", queue="billing", periodicity=timedelta(hours=1))
def nightly_report() -> None:
    pass


@tasks.task(name="shop:export", queue="billing", max_retries=2, max_concurrency=3)
def export(batch: int) -> None:
    pass
