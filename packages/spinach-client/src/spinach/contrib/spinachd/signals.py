"""Database connections around jobs, as Django does around requests.

A worker thread keeps its connection between jobs: without this, a connection broken or past
``CONN_MAX_AGE`` would fail the next job, and with ``DEBUG`` the query log would grow forever.
"""

from typing import Any

from django.db import close_old_connections, reset_queries

from spinach import signals


def job_started(*args: Any, **kwargs: Any) -> None:
    reset_queries()
    close_old_connections()


def job_finished(*args: Any, **kwargs: Any) -> None:
    close_old_connections()


def connect(namespace: str) -> None:
    """Connect the receivers to the jobs of `namespace` (connecting twice changes nothing)."""
    signals.job_started.connect(job_started, sender=namespace, weak=False)
    signals.job_finished.connect(job_finished, sender=namespace, weak=False)
