"""Turning an outbox row and its rendered template into an RFC 5322 message."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from domain.emails.outbox import Email
from domain.emails.templates import RenderedEmail


def build_message(email: Email, rendered: RenderedEmail, *, mail_from: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = formataddr((email.to_name or "", email.to_address))
    message["Subject"] = rendered.subject
    message["Message-ID"] = email.message_id
    message["Date"] = format_datetime(email.created_at)
    message.set_content(rendered.body)
    if rendered.html is not None:
        message.add_alternative(rendered.html, subtype="html")
    return message
