"""Email types: the client's email log."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.emails.outbox import Email as EmailRow
from schema.ids import global_id
from schema.node import Node


@strawberry.type(description="An email sent to a client or one of its contacts.")
class Email(Node):
    id: strawberry.ID = strawberry.field(description="The email's id.")
    subject: str = strawberry.field(description="The subject line as sent.")
    to: str = strawberry.field(description="The recipient's address.")
    body: str = strawberry.field(description="The plain-text body as sent.")
    template: str = strawberry.field(description="The template it was made from.")
    message_id: str = strawberry.field(description="The Message-ID header, stable across resends.")
    sent_at: datetime = strawberry.field(description="When the SMTP server accepted it.")

    @classmethod
    def from_row(cls, row: EmailRow) -> Email:
        assert row.sent_at is not None and row.subject is not None
        return cls(
            id=global_id("Email", row.id),
            subject=row.subject,
            to=row.to_address,
            body=row.body or "",
            template=row.template,
            message_id=row.message_id,
            sent_at=row.sent_at,
        )


@strawberry.type(description="An email template of the installation, rendered with sample data.")
class EmailTemplatePreview:
    key: str = strawberry.field(description="The template's key, e.g. client_signup.")
    title: str = strawberry.field(description="Its name, e.g. Client Signup Email.")
    category: str = strawberry.field(description="Its email category (GENERAL, INVOICE, …).")
    subject: str = strawberry.field(description="The subject, rendered with the sample data.")
    body: str = strawberry.field(description="The body, rendered with the sample data.")
