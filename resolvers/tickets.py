"""Root fields of support tickets (SPEC 2.3, 15.1): departments; staff reply (or note),
set statuses; the client area opens, replies to and closes its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

import asyncpg
import strawberry
from strawberry.file_uploads import Upload
from strawberry.types import Info

from domain.auth.permissions import ContactPermission, StaffPermission
from domain.auth.viewer import Viewer
from domain.files.storage import StoredUpload
from domain.tickets import attachments as message_files
from domain.tickets import departments, services
from domain.tickets.models import TicketStatus
from resolvers.context import Context
from resolvers.inputs import existing_id
from resolvers.mutation import perform
from resolvers.permissions import client_area, staff, staff_or_client_area
from resolvers.uploads import perform_with_uploads
from schema.node import Owned
from schema.tickets import (
    Ticket,
    TicketAttachment,
    TicketDepartment,
    TicketDepartmentInput,
    TicketDepartmentPayload,
    TicketMessage,
    TicketPayload,
)

Message = Annotated[str, strawberry.argument(description="The text of the message.")]
Attachments = Annotated[
    list[Upload] | None,
    strawberry.argument(
        description="Files the message carries (at most 5, each within MAX_UPLOAD_BYTES), "
        "sent as a GraphQL multipart request, as uploadClientFile's."
    ),
]
TicketId = Annotated[strawberry.ID, strawberry.argument(description="The ticket's id.")]


async def tickets_by_pks(ctx: Context, pks: Sequence[int]) -> list[Owned | None]:
    """`node`/`nodes`: tickets by row id, with their client."""
    rows = await ctx.loaders.ticket_by_id.load_many(pks)
    return [(row.client_id, Ticket.build(row)) if row else None for row in rows]


async def messages_by_pks(ctx: Context, pks: Sequence[int]) -> list[Owned | None]:
    """`node`/`nodes`: ticket messages by row id, with their ticket's client; internal
    notes for staff alone."""
    viewer = await ctx.get_viewer()
    staff_viewer = viewer is not None and viewer.is_staff
    rows = await ctx.loaders.message_by_id.load_many(pks)
    return [
        (row.client_id, TicketMessage.build(row))
        if row and (staff_viewer or not row.internal)
        else None
        for row in rows
    ]


async def attachments_by_pks(ctx: Context, pks: Sequence[int]) -> list[Owned | None]:
    """`node`/`nodes`: message attachments by row id, with their ticket's client; those of
    internal notes for staff alone."""
    viewer = await ctx.get_viewer()
    rows = await ctx.loaders.attachment_by_id.load_many(pks)
    return [
        (row.client_id, TicketAttachment.build(row))
        if row and message_files.may_see(viewer, row)
        else None
        for row in rows
    ]


async def _with_attachments(
    info: Info[Context, None],
    files: list[Upload] | None,
    work: Callable[[asyncpg.Connection, Viewer, list[StoredUpload]], Awaitable[TicketPayload]],
) -> TicketPayload:
    """`work` given the message's files stored first (their errors name `attachments.N`),
    refused past their count before any is stored."""
    uploads = [(f"attachments.{n}", file) for n, file in enumerate(files or [])]
    return await perform_with_uploads(
        info, uploads, work, TicketPayload, check=lambda: message_files.check_count(len(uploads))
    )


async def departments_by_pks(ctx: Context, pks: Sequence[int]) -> list[Owned | None]:
    """`node`/`nodes`: departments by row id, of no client."""
    rows = await ctx.loaders.department_by_id.load_many(pks)
    return [(None, TicketDepartment.build(row)) if row else None for row in rows]


async def ticket_departments(info: Info[Context, None]) -> list[TicketDepartment]:
    async with info.context.connection() as conn:
        rows = await departments.departments(conn)
    return [TicketDepartment.build(row) for row in rows]


def _department_id(value: strawberry.ID | None, field: str) -> int | None:
    return None if value is None else existing_id(value, "TicketDepartment", field)


async def save_ticket_department(
    info: Info[Context, None],
    input: Annotated[TicketDepartmentInput, strawberry.argument(description="The department.")],
) -> TicketDepartmentPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> TicketDepartmentPayload:
        saved = await departments.save_department(
            conn,
            _department_id(input.id, "id"),
            input.name,
            input.email,
            staff_id=viewer.staff_id,
        )
        return TicketDepartmentPayload(department=TicketDepartment.build(saved))

    return await perform(info, work, TicketDepartmentPayload)


async def open_ticket(
    info: Info[Context, None],
    subject: Annotated[str, strawberry.argument(description="What the ticket is about.")],
    message: Message,
    department_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(description="The department to file it under (ticketDepartments)."),
    ] = None,
    attachments: Attachments = None,
) -> TicketPayload:
    async def work(
        conn: asyncpg.Connection, viewer: Viewer, stored: list[StoredUpload]
    ) -> TicketPayload:
        assert viewer.client_id is not None  # the permission class saw to it
        writer = await services.writer_of_viewer(conn, viewer.client_id, viewer.contact_id)
        ticket = await services.open_ticket(
            conn,
            writer,
            subject,
            message,
            client_area_url=info.context.services.client_area_url,
            department_id=_department_id(department_id, "department_id"),
            attachments=stored,
        )
        return TicketPayload(ticket=Ticket.build(ticket))

    return await _with_attachments(info, attachments, work)


async def reply_to_my_ticket(
    info: Info[Context, None],
    ticket_id: TicketId,
    message: Message,
    attachments: Attachments = None,
) -> TicketPayload:
    async def work(
        conn: asyncpg.Connection, viewer: Viewer, stored: list[StoredUpload]
    ) -> TicketPayload:
        assert viewer.client_id is not None  # the permission class saw to it
        writer = await services.writer_of_viewer(conn, viewer.client_id, viewer.contact_id)
        ticket = await services.reply_to_my_ticket(
            conn,
            writer,
            existing_id(ticket_id, "Ticket", "ticket_id"),
            message,
            attachments=stored,
        )
        return TicketPayload(ticket=Ticket.build(ticket))

    return await _with_attachments(info, attachments, work)


async def close_my_ticket(info: Info[Context, None], id: TicketId) -> TicketPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> TicketPayload:
        assert viewer.client_id is not None  # the permission class saw to it
        ticket = await services.close_my_ticket(conn, viewer.client_id, existing_id(id, "Ticket"))
        return TicketPayload(ticket=Ticket.build(ticket))

    return await perform(info, work, TicketPayload)


async def reply_to_ticket(
    info: Info[Context, None],
    ticket_id: TicketId,
    message: Message,
    internal: Annotated[
        bool,
        strawberry.argument(
            description="An internal note for staff: not emailed, never shown to the client "
            "area, and the ticket's status stays."
        ),
    ] = False,
    attachments: Attachments = None,
) -> TicketPayload:
    async def work(
        conn: asyncpg.Connection, viewer: Viewer, stored: list[StoredUpload]
    ) -> TicketPayload:
        assert viewer.staff_id is not None  # the permission class saw to it
        row = await services.reply_to_ticket(
            conn,
            existing_id(ticket_id, "Ticket", "ticket_id"),
            message,
            staff_id=viewer.staff_id,
            client_area_url=info.context.services.client_area_url,
            internal=internal,
            attachments=stored,
        )
        return TicketPayload(ticket=Ticket.build(row))

    return await _with_attachments(info, attachments, work)


async def set_ticket_status(
    info: Info[Context, None],
    id: TicketId,
    status: Annotated[
        TicketStatus, strawberry.argument(description="The status the ticket is to have.")
    ],
) -> TicketPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> TicketPayload:
        assert viewer.staff_id is not None  # the permission class saw to it
        ticket = await services.set_ticket_status(
            conn, existing_id(id, "Ticket"), status, staff_id=viewer.staff_id
        )
        return TicketPayload(ticket=Ticket.build(ticket))

    return await perform(info, work, TicketPayload)


@strawberry.type(description="Root fields of support tickets: what can be read.")
class Queries:
    ticket_departments: list[TicketDepartment] = strawberry.field(
        resolver=ticket_departments,
        extensions=staff_or_client_area(StaffPermission.VIEW_CLIENTS),
        description="Ticket departments, by name: staff, and every client-area login (to "
        "choose one when opening a ticket).",
    )


@strawberry.type(description="Root fields of support tickets: what can be changed.")
class Mutations:
    save_ticket_department: TicketDepartmentPayload = strawberry.field(
        resolver=save_ticket_department,
        extensions=staff(StaffPermission.MANAGE_SETTINGS),
        description="Staff: add a ticket department (no id) or change one.",
    )
    open_ticket: TicketPayload = strawberry.field(
        resolver=open_ticket,
        extensions=client_area(ContactPermission.TICKETS),
        description="Client area: open a support ticket with its first message; its opener "
        "is emailed the acknowledgement with the ticket's reference.",
    )
    reply_to_my_ticket: TicketPayload = strawberry.field(
        resolver=reply_to_my_ticket,
        extensions=client_area(ContactPermission.TICKETS),
        description="Client area: answer one of the client's tickets; a CLOSED one reopens "
        "(CUSTOMER_REPLY; one staff have not answered yet stays OPEN).",
    )
    close_my_ticket: TicketPayload = strawberry.field(
        resolver=close_my_ticket,
        extensions=client_area(ContactPermission.TICKETS),
        description="Client area: close one of the client's tickets.",
    )
    reply_to_ticket: TicketPayload = strawberry.field(
        resolver=reply_to_ticket,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="Staff: answer a ticket; its opener (only) is emailed the reply. Or, "
        "`internal`, add a note for staff.",
    )
    set_ticket_status: TicketPayload = strawberry.field(
        resolver=set_ticket_status,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="Staff: set a ticket's status.",
    )
