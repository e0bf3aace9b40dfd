"""Root mutations of support tickets (SPEC 2.3): the client area opens them, staff reply."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth.permissions import ContactPermission, StaffPermission
from domain.auth.viewer import Viewer
from domain.tickets import services
from resolvers.context import Context
from resolvers.inputs import existing_id
from resolvers.mutation import perform
from resolvers.permissions import client_area, staff
from schema.ids import global_id
from schema.node import Owned
from schema.tickets import Ticket, TicketMessage, TicketPayload

Message = Annotated[str, strawberry.argument(description="The text of the message.")]


async def tickets_by_pks(ctx: Context, pks: Sequence[int]) -> list[Owned | None]:
    """`node`/`nodes`: tickets by row id, with their client."""
    rows = await ctx.loaders.ticket_by_id.load_many(pks)
    return [(row.client_id, Ticket.build(row)) if row else None for row in rows]


async def messages_by_pks(ctx: Context, pks: Sequence[int]) -> list[Owned | None]:
    """`node`/`nodes`: ticket messages by row id, with their ticket's client."""
    rows = await ctx.loaders.message_by_id.load_many(pks)
    return [(row.client_id, TicketMessage.build(row)) if row else None for row in rows]


async def open_ticket(
    info: Info[Context, None],
    subject: Annotated[str, strawberry.argument(description="What the ticket is about.")],
    message: Message,
) -> TicketPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> TicketPayload:
        assert viewer.client_id is not None  # the permission class saw to it
        writer = await services.writer_of_viewer(conn, viewer.client_id, viewer.contact_id)
        return TicketPayload(
            ticket=Ticket.build(await services.open_ticket(conn, writer, subject, message))
        )

    return await perform(info, work, TicketPayload)


async def reply_to_ticket(
    info: Info[Context, None],
    ticket_id: Annotated[strawberry.ID, strawberry.argument(description="The ticket's id.")],
    message: Message,
) -> TicketPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> TicketPayload:
        assert viewer.staff_id is not None  # the permission class saw to it
        ticket = existing_id(ticket_id, "Ticket", "ticket_id")
        row = await services.reply_to_ticket(
            conn,
            ticket,
            message,
            staff_id=viewer.staff_id,
            client_area_url=info.context.services.client_area_url,
            page_id=global_id("Ticket", ticket),
        )
        return TicketPayload(ticket=Ticket.build(row))

    return await perform(info, work, TicketPayload)


@strawberry.type(description="Root fields of support tickets: what can be changed.")
class Mutations:
    open_ticket: TicketPayload = strawberry.field(
        resolver=open_ticket,
        extensions=client_area(ContactPermission.TICKETS),
        description="Client area: open a support ticket with its first message.",
    )
    reply_to_ticket: TicketPayload = strawberry.field(
        resolver=reply_to_ticket,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="Staff: answer a ticket; its opener (only) is emailed the reply.",
    )
