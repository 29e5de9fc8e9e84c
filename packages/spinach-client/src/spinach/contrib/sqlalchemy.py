"""Jobs sent when a SQLAlchemy Session commits: ``after_commit(spin, session).schedule(...)``.

Needs SQLAlchemy 2 (``pip install 'spinach-client[sqlalchemy]'``); importing ``spinach`` does not
import it. Built on the Session's events:

- a job waits in the innermost transaction in progress when it is scheduled (a savepoint of
  ``begin_nested()``, else the Session's transaction);
- ``after_soft_rollback`` drops the jobs of the transaction rolled back and of the savepoints
  inside it; the jobs of a savepoint released (committed) stay, for its parent to decide;
- ``after_commit`` of the Session's outermost transaction sends every job still waiting (if a
  send fails, the others are still sent, then the first error is raised).
"""

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from spinach.contrib.on_commit import AfterCommit
from spinach.engine import Engine

#: Where the waiting jobs of a Session live, in ``session.info``.
_PENDING = "spinach.after_commit"
_listening_lock = threading.Lock()


def after_commit(engine: Engine, session: Session) -> AfterCommit:
    """Schedule jobs that are sent when `session` commits, and never if it rolls back.

    Outside a transaction (the Session has not begun one), a job is sent at once. A send that
    fails (Redis away longer than the enqueue retries) raises from ``session.commit()``, after
    the commit: the data is committed, the job is not sent.
    """
    _listen(session)

    def defer(callback: Callable[[], None]) -> None:
        if not session.in_transaction():
            callback()
            return
        transaction = session.get_nested_transaction() or session.get_transaction()
        assert transaction is not None  # in_transaction() said so
        session.info[_PENDING].append((transaction, callback))

    return AfterCommit(engine, defer)


def _listen(session: Session) -> None:
    with _listening_lock:
        if _PENDING in session.info:
            return
        session.info[_PENDING] = []
    event.listen(session, "after_commit", _send_pending)
    event.listen(session, "after_soft_rollback", _drop_rolled_back)


def _send_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its jobs wait for the outermost commit
    pending: list[tuple[SessionTransaction, Callable[[], None]]] = session.info[_PENDING]
    waiting, pending[:] = list(pending), []
    error: Exception | None = None
    for _, callback in waiting:
        try:
            callback()
        except Exception as e:  # noqa: BLE001 - send the others, then raise the first error
            error = error or e
    if error is not None:
        raise error


def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending: list[tuple[SessionTransaction, Callable[[], None]]] = session.info[_PENDING]
    pending[:] = [
        (transaction, callback)
        for transaction, callback in pending
        if not _within(transaction, previous_transaction)
    ]


def _within(transaction: Any, outer: SessionTransaction) -> bool:
    """Whether `transaction` is `outer` or one of the savepoints begun inside it."""
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False
