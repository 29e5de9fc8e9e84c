"""Jobs sent when the Django transaction commits: ``after_commit().schedule(task, ...)``."""

from collections.abc import Callable

from django.db import transaction

from spinach.contrib.on_commit import AfterCommit
from spinach.engine import Engine


def after_commit(engine: Engine | None = None, using: str | None = None) -> AfterCommit:
    """Schedule jobs with ``transaction.on_commit``: sent when the current ``atomic()`` commits.

    Never sent if it rolls back, nor if the savepoint they were scheduled in rolls back; sent at
    once outside any transaction (autocommit), as Django does for on_commit. `engine`: the
    project's engine by default (``spinach.contrib.spinachd.spin``); `using`: the database alias
    whose transaction counts (default: ``"default"``).

    A send that fails (Redis away longer than the enqueue retries) raises from the end of the
    ``atomic()`` block, after the commit: the data is committed, the job is not sent.
    """
    if engine is None:
        from spinach.contrib.spinachd.apps import spin

        engine = spin

    def defer(callback: Callable[[], None]) -> None:
        transaction.on_commit(callback, using=using)

    return AfterCommit(engine, defer)
