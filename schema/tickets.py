"""Support ticket types and payloads (SPEC 2.3)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from domain.tickets import models
from schema.common import UserError
from schema.context import SchemaContext
from schema.ids import global_id
from schema.node import Node

TicketStatus = strawberry.enum(
    models.TicketStatus,
    description="OPEN: no staff reply yet. ANSWERED: staff replied last. CUSTOMER_REPLY: the "
    "client wrote again after a staff reply.",
)


@strawberry.type(description="One message of a ticket's conversation.")
class TicketMessage(Node):
    id: strawberry.ID = strawberry.field(description="The message's id.")
    at: datetime = strawberry.field(description="When it was written.")
    from_: str = strawberry.field(
        name="from",
        description="Who wrote it: a client's or contact's name and address, or a staff name.",
    )
    body: str = strawberry.field(description="The text, as written.")
    unverified_sender: bool = strawberry.field(
        description="True for a message received by email without the mail relay's DMARC "
        "pass: its sender may be forged. False for the rest, and for messages received "
        "before the relay's verdict was asked."
    )

    @classmethod
    def build(cls, row: models.TicketMessage) -> TicketMessage:
        return cls(
            id=global_id("TicketMessage", row.id),
            at=row.created_at,
            from_=row.author,
            body=row.body,
            unverified_sender=row.unverified_sender,
        )


@strawberry.type(description="A support ticket: a client's question and its answers.")
class Ticket(Node):
    id: strawberry.ID = strawberry.field(description="The ticket's id.")
    # The row id behind `id`, for the loader of `messages`.
    pk: strawberry.Private[int]
    reference: str = strawberry.field(
        description="What an email subject carries to add to this ticket: its number and its "
        'random reply token, e.g. "[Ticket #12-3f9c2a7e5b1d8c04]".'
    )
    subject: str = strawberry.field(description="The subject it was opened with.")
    status: TicketStatus = strawberry.field(  # type: ignore[valid-type]
        description="Whose turn it is."
    )
    opened_by: str = strawberry.field(
        description="Who opened it (name and address); staff replies are emailed to them only."
    )
    opened_at: datetime = strawberry.field(description="When it was opened.")
    updated_at: datetime = strawberry.field(description="When it last had a message.")

    @strawberry.field(description="The conversation, oldest first.")
    async def messages(self, info: Info[SchemaContext, None]) -> list[TicketMessage]:
        rows = await info.context.loaders.messages_by_ticket.load(self.pk)
        return [TicketMessage.build(row) for row in rows]

    @classmethod
    def build(cls, row: models.Ticket) -> Ticket:
        return cls(
            id=global_id("Ticket", row.id),
            pk=row.id,
            reference=row.reference,
            subject=row.subject,
            status=row.status,
            opened_by=row.opener,
            opened_at=row.opened_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="The result of a ticket mutation.")
class TicketPayload:
    ticket: Ticket | None = strawberry.field(
        default=None, description="The ticket; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
