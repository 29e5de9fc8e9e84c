"""The Spinach settings of a Django project, each read from django.conf.settings or defaulted.

The names of Spinach 0.0.25 (``SPINACH_BROKER``, ...) are kept as module attributes; they are
read when asked for, so the project's settings may change until the engine is built.
"""

import threading
from datetime import timedelta
from typing import Any

from django.conf import settings

from spinach import const
from spinach.brokers.base import Broker
from spinach.brokers.redis import RedisBroker

DEFAULTS: dict[str, Any] = {
    "SPINACH_NAMESPACE": const.DEFAULT_NAMESPACE,
    "SPINACH_WORKER_NUMBER": const.DEFAULT_WORKER_NUMBER,
    "SPINACH_ACTUAL_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "SPINACH_CLEAR_SESSIONS_PERIODICITY": None,
}

_default_broker: Broker | None = None
_default_broker_lock = threading.Lock()


def broker() -> Broker:
    """``SPINACH_BROKER``, or one ``RedisBroker()`` on localhost made on first use."""
    global _default_broker
    configured: Broker | None = getattr(settings, "SPINACH_BROKER", None)
    if configured is not None:
        return configured
    with _default_broker_lock:
        if _default_broker is None:
            _default_broker = RedisBroker()
        return _default_broker


def namespace() -> str:
    return str(setting("SPINACH_NAMESPACE"))


def worker_number() -> int:
    return int(setting("SPINACH_WORKER_NUMBER"))


def actual_email_backend() -> str:
    """The backend that really sends the emails of ``BackgroundEmailBackend``."""
    return str(setting("SPINACH_ACTUAL_EMAIL_BACKEND"))


def clear_sessions_periodicity() -> timedelta | None:
    periodicity: timedelta | None = setting("SPINACH_CLEAR_SESSIONS_PERIODICITY")
    return periodicity


def setting(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])


def __getattr__(name: str) -> Any:
    if name == "SPINACH_BROKER":
        return broker()
    if name in DEFAULTS:
        return setting(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
