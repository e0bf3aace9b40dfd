"""Root fields of quotes (SPEC 14.4): staff save and send them, the client area accepts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth.permissions import ContactPermission, StaffPermission
from domain.auth.viewer import Viewer
from domain.quotes import services
from domain.quotes.models import QuoteStatus
from resolvers.context import Context
from resolvers.inputs import existing_id, parse_id
from resolvers.mutation import perform
from resolvers.permissions import client_area, staff
from schema.ids import global_id
from schema.node import Owned
from schema.quotes import Quote, QuoteInput, QuotePayload

QuoteId = Annotated[strawberry.ID, strawberry.argument(description="The quote's id.")]


async def quotes_by_pks(ctx: Context, pks: Sequence[int]) -> list[Owned | None]:
    """`node`/`nodes`: quotes by row id, with their client; drafts for staff only, as
    `Client.quotes` shows them."""
    viewer = await ctx.get_viewer()
    staff_viewer = viewer is not None and viewer.is_staff
    rows = await ctx.loaders.quote_by_id.load_many(pks)
    return [
        (row.client_id, Quote.build(row))
        if row and (staff_viewer or row.stored_status is not QuoteStatus.DRAFT)
        else None
        for row in rows
    ]


async def save_quote(
    info: Info[Context, None],
    client_id: Annotated[strawberry.ID, strawberry.argument(description="The client's id.")],
    input: Annotated[QuoteInput, strawberry.argument(description="The quote.")],
) -> QuotePayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> QuotePayload:
        quote = await services.save_quote(
            conn,
            existing_id(client_id, "Client", "clientId"),
            quote_id=existing_id(input.id, "Quote", "input.id") if input.id else None,
            lines=[
                {
                    "description": line.description,
                    "amount": line.amount,
                    # A product id of nothing (or another type's) is a product not found.
                    "product_id": None
                    if line.product_id is None
                    else parse_id(line.product_id, "Product") or -1,
                    "billing_cycle": line.billing_cycle,
                }
                for line in input.lines
            ],
            valid_until=input.valid_until,
            staff_id=viewer.staff_id,
        )
        return QuotePayload(quote=Quote.build(quote))

    return await perform(info, work, QuotePayload)


async def send_quote(info: Info[Context, None], id: QuoteId) -> QuotePayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> QuotePayload:
        quote_id = existing_id(id, "Quote")
        quote = await services.send_quote(
            conn,
            quote_id,
            staff_id=viewer.staff_id,
            client_area_url=info.context.services.client_area_url,
            page_id=global_id("Quote", quote_id),
        )
        return QuotePayload(quote=Quote.build(quote))

    return await perform(info, work, QuotePayload)


async def accept_quote(info: Info[Context, None], id: QuoteId) -> QuotePayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> QuotePayload:
        assert viewer.client_id is not None  # the permission class saw to it
        quote = await services.accept_quote(
            conn, existing_id(id, "Quote"), client_id=viewer.client_id
        )
        return QuotePayload(quote=Quote.build(quote))

    return await perform(info, work, QuotePayload)


@strawberry.type(description="Root fields of quotes: what can be changed.")
class Mutations:
    save_quote: QuotePayload = strawberry.field(
        resolver=save_quote,
        extensions=staff(StaffPermission.MANAGE_BILLING),
        description="Write a quote for a client (a DRAFT the client area does not see), or "
        "rewrite one not accepted yet (`input.id`); audited.",
    )
    send_quote: QuotePayload = strawberry.field(
        resolver=send_quote,
        extensions=staff(StaffPermission.MANAGE_BILLING),
        description="Email a quote to its client (Quote Delivered, with the link to accept "
        "it); it becomes SENT. Refused once accepted (ALREADY_ACCEPTED) or expired (EXPIRED).",
    )
    accept_quote: QuotePayload = strawberry.field(
        resolver=accept_quote,
        extensions=client_area(ContactPermission.QUOTES),
        description="Client area (the account holder, or a sub-account with QUOTES): accept "
        "one of the client's sent quotes, which makes its invoice (`quote.invoice`). Refused "
        "when expired (EXPIRED) or accepted already (ALREADY_ACCEPTED); another client's "
        "quote is NOT_FOUND.",
    )
