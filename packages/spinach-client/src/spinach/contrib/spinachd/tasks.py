"""The tasks of the Django app: sending emails in the background, clearing expired sessions."""

import logging
from importlib import import_module
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.mail import get_connection

from spinach.contrib.spinachd import settings as spinach_settings
from spinach.task import Tasks

logger = logging.getLogger(__name__)

tasks = Tasks()


@tasks.task(name="spinachd:send_emails")
def send_emails(messages: list[dict[str, Any]]) -> None:
    """Send emails serialized by ``BackgroundEmailBackend`` through the actual backend."""
    from spinach.contrib.spinachd.mail import deserialize_email_messages

    backend = spinach_settings.actual_email_backend()
    emails = deserialize_email_messages(messages)
    logger.info("Sending %d emails using %s", len(emails), backend)
    get_connection(backend).send_messages(emails)


@tasks.task(
    name="spinachd:clear_expired_sessions",
    periodicity=spinach_settings.clear_sessions_periodicity(),
)
def clear_expired_sessions() -> None:
    """Delete expired sessions; periodic if ``SPINACH_CLEAR_SESSIONS_PERIODICITY`` is set."""
    if not apps.is_installed("django.contrib.sessions"):
        logger.info("django.contrib.sessions is not installed: no sessions to clear")
        return
    engine = import_module(settings.SESSION_ENGINE)
    try:
        engine.SessionStore.clear_expired()
    except NotImplementedError:
        logger.info("Session engine %s cannot clear expired sessions", settings.SESSION_ENGINE)
