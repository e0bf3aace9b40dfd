"""Email templates (SPEC 8.1): Jinja2 files, `<key>.txt.j2` with a `subject` and a `body`
block, and beside it `<key>.html.j2` with the `body` of the HTML part (autoescaped).

The built-in files live beside this module, English at the top and each other language in its
own folder (domain/emails/languages.py); each is registered here with its sample context, what
staff preview it with and what their own versions are checked against. Rendering, and where an
installation's or staff's versions come in, is domain/emails/rendering.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

BUILTIN_DIR = Path(__file__).resolve().parent / "templates"


class EmailCategory(StrEnum):
    """What a contact ticks to receive copies (SPEC 2.2); ACCOUNT mail goes to its owner only."""

    GENERAL = "GENERAL"
    INVOICE = "INVOICE"
    SUPPORT = "SUPPORT"
    PRODUCT = "PRODUCT"
    DOMAIN = "DOMAIN"
    AFFILIATE = "AFFILIATE"
    ACCOUNT = "ACCOUNT"


@dataclass(frozen=True)
class EmailTemplate:
    key: str
    title: str
    category: EmailCategory
    sample: dict[str, Any]
    # Sent with the PDF of the invoice of its context (`INVOICE_ROW_KEY`), drawn by the
    # worker when it sends (domain/emails/attachments.py).
    attaches_invoice_pdf: bool = False


_SAMPLE_CLIENT = {
    "first_name": "Joe",
    "last_name": "Bloggs",
    "display_name": "Joe Bloggs",
    "email": "joe@example.com",
    "company_name": "Demo Company",
}

_SAMPLE_URL = "https://example.com/clientarea"
_SAMPLE_USER = {"first_name": "Joe", "email": "joe@example.com"}
_SAMPLE_TICKET = {
    "id": "VGlja2V0OjEyMw==",
    "number": 123,
    "reference": "[Ticket #123-3f9c2a7e5b1d8c04]",
    "subject": "My website is down",
}
_SAMPLE_TOKEN = {"token": "sample-token"}
_SAMPLE_PASSWORD = {"password": "Sample-Password-1"}

# The context key of what an email must say but the email log must not keep (a reset link's
# token, a new password): the outbox drops it, and redacts it from the body it keeps, once the
# email is sent (`redact_secrets`).
SECRET_KEY = "secret"  # noqa: S105 -- the name of a context key
REDACTED = "[removed once sent]"

# The context key of an invoice email's invoice by row id: what the worker reads to attach its
# PDF. Templates name the invoice by `invoice.id`, its API id, as links need.
INVOICE_ROW_KEY = "invoice_row_id"

_SAMPLE_INVOICE = {
    "client": _SAMPLE_CLIENT,
    "invoice": {
        "id": "SW52b2ljZTox",
        "number": 1,
        "due_date": "2026-01-31",
        "total": "21.00",
        "balance": "21.00",
        "currency": "USD",
    },
    "client_area_url": "https://example.com/clientarea",
    INVOICE_ROW_KEY: 1,
}

_SAMPLE_BILLED = {
    "name": "Shared hosting",
    "amount": "10.00",
    "currency": "USD",
    "billing_cycle": "MONTHLY",
    "next_due_date": "2026-02-01",
    "auto_renew": True,
}
_SAMPLE_ITEM = {"client": _SAMPLE_CLIENT, "item": _SAMPLE_BILLED, "client_area_url": _SAMPLE_URL}
_SAMPLE_DOMAIN = {**_SAMPLE_ITEM, "item": {**_SAMPLE_BILLED, "name": "example.com"}}
_SAMPLE_ORDER = {
    "client": _SAMPLE_CLIENT,
    "order": {
        "number": 7,
        "currency": "USD",
        "lines": [{"name": "Shared hosting", "amount": "10.00", "billing_cycle": "MONTHLY"}],
        "invoice_number": 12,
        "total": "15.00",
        "balance": "10.00",
    },
    "client_area_url": _SAMPLE_URL,
}

TEMPLATES: dict[str, EmailTemplate] = {
    t.key: t
    for t in [
        EmailTemplate(
            "client_signup",
            "Client Signup Email",
            EmailCategory.GENERAL,
            {
                "client": {**_SAMPLE_CLIENT, "has_password": False},
                "client_area_url": _SAMPLE_URL,
                "valid_hours": 72,
                SECRET_KEY: _SAMPLE_TOKEN,
            },
        ),
        EmailTemplate(
            "password_reset_validation",
            "Password Reset Validation",
            EmailCategory.ACCOUNT,
            {"user": _SAMPLE_USER, "client_area_url": _SAMPLE_URL, SECRET_KEY: _SAMPLE_TOKEN},
        ),
        EmailTemplate(
            "password_reset_confirmation",
            "Password Reset Confirmation",
            EmailCategory.ACCOUNT,
            {"user": _SAMPLE_USER, "client_area_url": _SAMPLE_URL, SECRET_KEY: _SAMPLE_PASSWORD},
        ),
        EmailTemplate(
            "automated_password_reset",
            "Automated Password Reset",
            EmailCategory.ACCOUNT,
            {"user": _SAMPLE_USER, "client_area_url": _SAMPLE_URL, SECRET_KEY: _SAMPLE_PASSWORD},
        ),
        EmailTemplate(
            "sub_account_invitation",
            "Sub-Account Invitation",
            EmailCategory.ACCOUNT,
            {
                "invitee": {"first_name": "Jane", "email": "jane@example.com"},
                "account": {"name": "Joe Bloggs", "company_name": "Demo Company"},
                "valid_hours": 72,
                "client_area_url": _SAMPLE_URL,
                SECRET_KEY: _SAMPLE_TOKEN,
            },
        ),
        *(
            EmailTemplate(
                key,
                title,
                EmailCategory.ACCOUNT,
                {
                    "member": {"first_name": "Sam", "email": "sam@example.com"},
                    "role": "BILLING",
                    "valid_hours": hours,
                    "client_area_url": _SAMPLE_URL,
                    SECRET_KEY: _SAMPLE_TOKEN,
                },
            )
            for key, title, hours in [
                ("staff_invitation", "Staff Invitation", 72),
                ("staff_password_reset", "Staff Password Reset", 2),
            ]
        ),
        EmailTemplate(
            "email_change_confirmation",
            "Login Address Change Confirmation",
            EmailCategory.ACCOUNT,
            {
                "user": _SAMPLE_USER,
                "new_email": "joe.new@example.com",
                "valid_hours": 24,
                "client_area_url": _SAMPLE_URL,
                SECRET_KEY: _SAMPLE_TOKEN,
            },
        ),
        EmailTemplate(
            "email_change_notice",
            "Login Address Changed",
            EmailCategory.ACCOUNT,
            {
                "user": _SAMPLE_USER,
                "new_email": "joe.new@example.com",
                "client_area_url": _SAMPLE_URL,
            },
        ),
        EmailTemplate(
            "support_ticket_opened",
            "Support Ticket Opened",
            EmailCategory.SUPPORT,
            {
                "recipient": {"first_name": "Joe"},
                "ticket": _SAMPLE_TICKET,
                "client_area_url": _SAMPLE_URL,
            },
        ),
        EmailTemplate(
            "support_ticket_reply",
            "Support Ticket Reply",
            EmailCategory.SUPPORT,
            {
                "recipient": {"first_name": "Joe"},
                "ticket": _SAMPLE_TICKET,
                "message": "We have restarted your server; the site is back.",
                "staff_name": "Sam Staff",
                "client_area_url": _SAMPLE_URL,
            },
        ),
        # What the client ordered, its services and its domains (SPEC 14); their context is
        # made by domain/catalogue/emails.py.
        EmailTemplate(
            "order_confirmation", "Order Confirmation", EmailCategory.GENERAL, _SAMPLE_ORDER
        ),
        *(
            EmailTemplate(key, title, EmailCategory.PRODUCT, _SAMPLE_ITEM)
            for key, title in [
                ("service_welcome", "Service Welcome Email"),
                ("service_suspended", "Service Suspension Notification"),
                ("service_cancellation_confirmation", "Service Cancellation Confirmation"),
            ]
        ),
        *(
            EmailTemplate(key, title, EmailCategory.DOMAIN, _SAMPLE_DOMAIN)
            for key, title in [
                ("domain_registration_confirmation", "Domain Registration Confirmation"),
                ("domain_renewal_notice", "Domain Renewal Notice"),
            ]
        ),
        EmailTemplate(
            "quote_delivered",
            "Quote Delivered",
            EmailCategory.GENERAL,
            {
                "client": _SAMPLE_CLIENT,
                "quote": {
                    "id": "UXVvdGU6MQ==",
                    "number": 1,
                    "valid_until": "2026-01-31",
                    "subtotal": "120.00",
                    "currency": "USD",
                    "lines": [
                        {"description": "Website design", "amount": "100.00"},
                        {"description": "Hosting setup", "amount": "20.00"},
                    ],
                },
                "client_area_url": _SAMPLE_URL,
            },
        ),
        EmailTemplate(
            "affiliate_commission_earned",
            "Affiliate Commission Earned",
            EmailCategory.AFFILIATE,
            {
                "client": _SAMPLE_CLIENT,
                "commission": {"amount": "2.10", "currency": "USD", "invoice_number": 12},
                "client_area_url": _SAMPLE_URL,
            },
        ),
        # The invoice emails of the daily automation (SPEC 8.1, 9.4, 9.5) and of a payment that
        # settles an invoice; their context is made by `outbox.queue_invoice_emails`. Those
        # that announce an invoice or its payment carry its PDF (SPEC 13.5).
        *(
            EmailTemplate(key, title, EmailCategory.INVOICE, _SAMPLE_INVOICE, attaches)
            for key, title, attaches in [
                ("invoice_created", "Invoice Created", True),
                ("credit_card_invoice_created", "Credit Card Invoice Created", True),
                ("invoice_payment_confirmation", "Invoice Payment Confirmation", True),
                ("invoice_payment_reminder", "Invoice Payment Reminder", False),
                ("invoice_first_overdue_notice", "First Invoice Overdue Notice", False),
                ("invoice_second_overdue_notice", "Second Invoice Overdue Notice", False),
                ("invoice_third_overdue_notice", "Third Invoice Overdue Notice", False),
            ]
        ),
    ]
}


class EmailTemplateError(ValueError):
    """A template that cannot be rendered: missing, broken, or using an unknown value."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body: str
    html: str | None = None


def redact_secrets(rendered: RenderedEmail, context: dict[str, Any]) -> RenderedEmail:
    """What the email log keeps of a sent email: its text without the context's secrets."""
    secrets = [str(v) for v in (context.get(SECRET_KEY) or {}).values() if str(v)]
    if not secrets:
        return rendered

    def redact(text: str | None) -> str | None:
        for secret in secrets:
            text = text.replace(secret, REDACTED) if text is not None else None
        return text

    subject, body = redact(rendered.subject), redact(rendered.body)
    assert subject is not None and body is not None
    return RenderedEmail(subject=subject, body=body, html=redact(rendered.html))
