"""Django app ``spinach.contrib.spinachd``: Spinach configured from the Django settings.

Add ``"spinach.contrib.spinachd"`` to ``INSTALLED_APPS``; the engine is
``spinach.contrib.spinachd.spin``. Settings: ``SPINACH_BROKER`` (default ``RedisBroker()``),
``SPINACH_NAMESPACE`` (default ``"spinach"``), ``SPINACH_WORKER_NUMBER``,
``SPINACH_ACTUAL_EMAIL_BACKEND`` and ``SPINACH_CLEAR_SESSIONS_PERIODICITY``. The ``tasks``
module of every installed app that defines ``tasks = Tasks()`` is attached to the engine.
``after_commit().schedule(task, ...)`` sends a job when the current ``transaction.atomic()``
block commits, never if it rolls back. Scheduling needs spinach-client only;
``manage.py spinach`` runs workers and needs spinach-worker. Import paths and names are those
of Spinach 0.0.25.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    # The engine is built from the settings: only once Django is set up, not at import.
    if name == "spin":
        from spinach.contrib.spinachd.apps import spin

        return spin
    if name == "after_commit":
        from spinach.contrib.spinachd.on_commit import after_commit

        return after_commit
    raise AttributeError(f"module 'spinach.contrib.spinachd' has no attribute {name!r}")
