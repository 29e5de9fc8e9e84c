"""An email backend that sends emails from a Spinach job, so a request never waits on SMTP.

    EMAIL_BACKEND = "spinach.contrib.spinachd.mail.BackgroundEmailBackend"
    SPINACH_ACTUAL_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"

Messages travel as job arguments, so as JSON-compatible data, never pickle (Spinach 0.0.25
pickled them): the fields of each EmailMessage are written to a dict and the message is built
again in the job. Attachment and binary contents travel as base64. What is kept: subject, body,
sender, recipients (to, cc, bcc, reply-to), extra headers, content and multipart subtypes,
encoding, alternatives and attachments (MIME parts included). A subclass of EmailMessage
arrives as EmailMessage, or EmailMultiAlternatives if it was one: the job builds no class named
by its data.
"""

import base64
import email
from collections.abc import Iterable, Sequence
from email.message import Message
from email.mime.base import MIMEBase
from email.policy import Policy, compat32
from typing import Any

from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend

from spinach.contrib.spinachd.tasks import send_emails, tasks

#: Version of the dict format below, for messages still queued across an upgrade.
FORMAT = 1


class BackgroundEmailBackend(BaseEmailBackend):  # type: ignore[misc]  # Django has no hints
    """Schedule the sending of emails; ``SPINACH_ACTUAL_EMAIL_BACKEND`` sends them in a job."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        if not email_messages:
            return 0
        for message in email_messages:
            message.message()  # validates the headers now, in the caller, as sending would
        tasks.schedule(send_emails, serialize_email_messages(email_messages))
        return len(email_messages)


def serialize_email_messages(messages: Iterable[EmailMessage]) -> list[dict[str, Any]]:
    """Turn EmailMessages into JSON-compatible dicts, to be passed as a job argument."""
    return [serialize_email_message(message) for message in messages]


def deserialize_email_messages(messages: Iterable[dict[str, Any]]) -> list[EmailMessage]:
    """Build again the EmailMessages of `serialize_email_messages`."""
    return [deserialize_email_message(data) for data in messages]


def serialize_email_message(message: EmailMessage) -> dict[str, Any]:
    data: dict[str, Any] = {
        "format": FORMAT,
        "subject": str(message.subject),
        "body": str(message.body),
        "from_email": message.from_email,
        "to": [str(address) for address in message.to],
        "cc": [str(address) for address in message.cc],
        "bcc": [str(address) for address in message.bcc],
        "reply_to": [str(address) for address in message.reply_to],
        "headers": {str(name): str(value) for name, value in message.extra_headers.items()},
        "content_subtype": message.content_subtype,
        "mixed_subtype": message.mixed_subtype,
        "encoding": message.encoding if isinstance(message.encoding, str) else None,
        "attachments": [_serialize_attachment(attachment) for attachment in message.attachments],
    }
    if isinstance(message, EmailMultiAlternatives):
        data["alternatives"] = [
            {"content": _pack(content), "mimetype": mimetype}
            for content, mimetype in message.alternatives
        ]
        data["alternative_subtype"] = message.alternative_subtype
    return data


def deserialize_email_message(data: dict[str, Any]) -> EmailMessage:
    if data.get("format") != FORMAT:
        raise ValueError(f"Unknown serialized email format {data.get('format')!r}")
    fields = {
        "subject": data["subject"],
        "body": data["body"],
        "from_email": data["from_email"],
        "to": data["to"],
        "cc": data["cc"],
        "bcc": data["bcc"],
        "reply_to": data["reply_to"],
        "headers": data["headers"],
    }
    message: EmailMessage
    if "alternatives" in data:
        message = EmailMultiAlternatives(**fields)
        for alternative in data["alternatives"]:
            message.attach_alternative(_unpack(alternative["content"]), alternative["mimetype"])
        message.alternative_subtype = data["alternative_subtype"]
    else:
        message = EmailMessage(**fields)
    message.content_subtype = data["content_subtype"]
    message.mixed_subtype = data["mixed_subtype"]
    if data["encoding"] is not None:
        message.encoding = data["encoding"]
    for attachment in data["attachments"]:
        if "mime" in attachment:
            raw = base64.b64decode(attachment["mime"])
            message.attach(email.message_from_bytes(raw, _class=_MIMEPart))
        else:
            content = _unpack(attachment["content"])
            message.attach(attachment["filename"], content, attachment["mimetype"])
    return message


def _serialize_attachment(attachment: Any) -> dict[str, Any]:
    if isinstance(attachment, Message):  # a MIME part attached as it is
        return {"mime": base64.b64encode(attachment.as_bytes()).decode("ascii")}
    filename, content, mimetype = attachment
    return {"filename": filename, "content": _pack(content), "mimetype": mimetype}


def _pack(content: str | bytes) -> dict[str, Any]:
    """Content as base64, remembering whether it was text or bytes."""
    if isinstance(content, str):
        return {"base64": base64.b64encode(content.encode()).decode("ascii"), "text": True}
    return {"base64": base64.b64encode(content).decode("ascii"), "text": False}


def _unpack(packed: dict[str, Any]) -> str | bytes:
    content = base64.b64decode(packed["base64"])
    return content.decode() if packed["text"] else content


class _MIMEPart(MIMEBase):
    """A MIME part as parsed back from its bytes (a MIMEBase, so Django attaches it as is)."""

    def __init__(self, *, policy: Policy = compat32) -> None:
        Message.__init__(self, policy=policy)
