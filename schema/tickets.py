"""Support ticket types and payloads (SPEC 2.3)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import strawberry
from strawberry.types import Info

from domain.tickets import attachments, models
from schema.common import UserError
from schema.context import SchemaContext
from schema.ids import global_id
from schema.node import Node

TicketStatus = strawberry.enum(
    models.TicketStatus,
    description="OPEN: no staff reply yet. ANSWERED: staff replied last. CUSTOMER_REPLY: the "
    "client wrote again after a staff reply. ON_HOLD: staff wait for something else. CLOSED: "
    "done; a client's reply reopens it.",
)


@strawberry.type(
    description="Who answers a kind of ticket; its tickets' emails go from its address."
)
class TicketDepartment(Node):
    id: strawberry.ID = strawberry.field(description="The department's id.")
    name: str = strawberry.field(description="Its name, unique whatever its case.")
    email: str = strawberry.field(description="The address its tickets' emails go from.")

    @classmethod
    def build(cls, row: models.Department) -> TicketDepartment:
        return cls(id=global_id("TicketDepartment", row.id), name=row.name, email=row.email)


@strawberry.type(description="A file a ticket message carries.")
class TicketAttachment(Node):
    id: strawberry.ID = strawberry.field(description="The attachment's id.")
    name: str = strawberry.field(description="The uploader's file name, cleaned.")
    size: int = strawberry.field(description="Its size in bytes.")
    content_type: str = strawberry.field(description="Its media type, as uploaded.")
    url: str = strawberry.field(
        description="Where to download it (GET, with the same login): /ticket-attachments/{id}."
    )

    @classmethod
    def build(cls, row: attachments.Attachment) -> TicketAttachment:
        node_id = global_id("TicketAttachment", row.id)
        return cls(
            id=node_id,
            name=row.filename,
            size=row.size,
            content_type=row.content_type,
            url=f"/ticket-attachments/{quote(node_id, safe='')}",
        )


@strawberry.type(description="One message of a ticket's conversation.")
class TicketMessage(Node):
    id: strawberry.ID = strawberry.field(description="The message's id.")
    # The row id behind `id`, for the loader of `attachments`.
    pk: strawberry.Private[int]
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
    internal: bool = strawberry.field(
        description="True for a staff note for staff: the client area never reads it, and it "
        "is never emailed."
    )

    @strawberry.field(description="The files it carries, in the order they were sent.")
    async def attachments(self, info: Info[SchemaContext, None]) -> list[TicketAttachment]:
        rows = await info.context.loaders.attachments_by_message.load(self.pk)
        return [TicketAttachment.build(row) for row in rows]

    @classmethod
    def build(cls, row: models.TicketMessage) -> TicketMessage:
        return cls(
            id=global_id("TicketMessage", row.id),
            pk=row.id,
            at=row.created_at,
            from_=row.author,
            body=row.body,
            unverified_sender=row.unverified_sender,
            internal=row.internal,
        )


@strawberry.type(description="A support ticket: a client's question and its answers.")
class Ticket(Node):
    id: strawberry.ID = strawberry.field(description="The ticket's id.")
    # The row ids behind `id` and `department`, for their loaders.
    pk: strawberry.Private[int]
    department_pk: strawberry.Private[int | None]
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
    updated_at: datetime = strawberry.field(
        description="When it last had a message or a change of status (internal notes aside)."
    )

    @strawberry.field(
        description="The conversation, oldest first; staff also see the internal notes."
    )
    async def messages(self, info: Info[SchemaContext, None]) -> list[TicketMessage]:
        viewer = await info.context.get_viewer()
        staff = viewer is not None and viewer.is_staff
        rows = await info.context.loaders.messages_by_ticket.load(self.pk)
        return [TicketMessage.build(row) for row in rows if staff or not row.internal]

    @strawberry.field(description="The department it is filed under; null: none.")
    async def department(self, info: Info[SchemaContext, None]) -> TicketDepartment | None:
        if self.department_pk is None:
            return None
        row = await info.context.loaders.department_by_id.load(self.department_pk)
        return None if row is None else TicketDepartment.build(row)

    @classmethod
    def build(cls, row: models.Ticket) -> Ticket:
        return cls(
            id=global_id("Ticket", row.id),
            pk=row.id,
            department_pk=row.department_id,
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


@strawberry.type(description="The result of saveTicketDepartment.")
class TicketDepartmentPayload:
    department: TicketDepartment | None = strawberry.field(
        default=None, description="The department saved; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.input(description="A department to add (no id) or change.")
class TicketDepartmentInput:
    id: strawberry.ID | None = strawberry.field(
        default=None, description="The department to change; none: add one."
    )
    name: str = strawberry.field(description="Its name, unique whatever its case.")
    email: str = strawberry.field(description="The address its tickets' emails go from.")
