"""Email types: the client's email log, and the outbox rows staff look after."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.emails import log as email_log
from domain.emails.log import ShownEmail as EmailRow
from schema.connections import Connection, total_count_field, total_count_is_estimate_field
from schema.ids import global_id
from schema.node import Node

EmailStatus = strawberry.enum(
    email_log.EmailStatus,
    description="QUEUED: waiting for its first or next attempt. SENT: accepted by the SMTP "
    "server. FAILED: given up on after the last allowed attempt, or unsendable as it is "
    "(`retryEmail` puts it back in the queue).",
)


@strawberry.type(description="An email to a client or one of its contacts, sent or not.")
class Email(Node):
    id: strawberry.ID = strawberry.field(description="The email's id.")
    subject: str | None = strawberry.field(
        description="The subject line as sent; null until it is sent."
    )
    to: str = strawberry.field(description="The recipient's address.")
    body: str = strawberry.field(description="The plain-text body as sent; empty until sent.")
    template: str = strawberry.field(description="The template it was made from.")
    message_id: str = strawberry.field(description="The Message-ID header, stable across resends.")
    sent_at: datetime | None = strawberry.field(
        description="When the SMTP server accepted it; null until then."
    )
    status: email_log.EmailStatus = strawberry.field(description="Queued, sent or failed.")
    attempts: int = strawberry.field(
        description="Attempts at sending it so far (since staff last requeued it)."
    )
    last_error: str | None = strawberry.field(
        description="Why the latest attempt failed; null once sent or before any failure."
    )
    failed_at: datetime | None = strawberry.field(
        description="When it was given up on; null unless FAILED."
    )
    next_attempt_at: datetime | None = strawberry.field(
        description="When a queued email that failed is tried again; null otherwise."
    )

    @classmethod
    def from_row(cls, row: EmailRow) -> Email:
        return cls(
            id=global_id("Email", row.id),
            subject=row.subject,
            to=row.to_address,
            body=row.body or "",
            template=row.template,
            message_id=row.message_id,
            sent_at=row.sent_at,
            status=row.status,
            attempts=row.attempts,
            last_error=row.last_error,
            failed_at=row.failed_at,
            next_attempt_at=row.next_attempt_at if row.sent_at is None else None,
        )


@strawberry.type(description="A page of emails.")
class EmailConnection(Connection[Email]):
    total_count: int = total_count_field("How many emails the list has")
    total_count_is_estimate: bool = total_count_is_estimate_field("emails")
