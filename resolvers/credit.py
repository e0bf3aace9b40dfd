"""Root mutations of the credit ledger, for staff (SPEC 3.1–3.3)."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth.permissions import StaffPermission
from domain.auth.viewer import Viewer
from domain.credit import services
from domain.credit.services import CreditChange
from resolvers.clients import presentation
from resolvers.context import Context
from resolvers.inputs import existing_id
from resolvers.mutation import perform
from resolvers.permissions import staff
from schema.clients import Client
from schema.credit import CreditEntry, CreditPayload

ClientId = Annotated[strawberry.ID, strawberry.argument(description="The client's id.")]
Amount = Annotated[
    Decimal, strawberry.argument(description="A positive amount with at most two places.")
]
IdempotencyKey = Annotated[
    str | None,
    strawberry.argument(
        description="Any unique string (e.g. a UUID). A retry with the same key and arguments "
        "returns the first result and changes nothing again; other arguments are refused."
    ),
]


async def _present(ctx: Context, change: CreditChange) -> CreditPayload:
    return CreditPayload(
        client=Client.build(change.client, await presentation(ctx)),
        entry=CreditEntry.build(change.entry) if change.entry else None,
    )


async def add_credit(
    info: Info[Context, None],
    client_id: ClientId,
    amount: Amount,
    description: Annotated[
        str, strawberry.argument(description="What the credit is for; shown in the log.")
    ],
    idempotency_key: IdempotencyKey = None,
) -> CreditPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> CreditChange:
        return await services.add_credit(
            conn,
            existing_id(client_id, "Client", "clientId"),
            amount=amount,
            description=description,
            staff_id=viewer.staff_id,
            login_id=viewer.login_id,
            idempotency_key=idempotency_key,
        )

    return await perform(
        info, work, CreditPayload, present=functools.partial(_present, info.context)
    )


async def remove_credit(
    info: Info[Context, None],
    client_id: ClientId,
    amount: Amount,
    reason: Annotated[str, strawberry.argument(description="Why; shown in the log.")],
    idempotency_key: IdempotencyKey = None,
) -> CreditPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> CreditChange:
        return await services.remove_credit(
            conn,
            existing_id(client_id, "Client", "clientId"),
            amount=amount,
            reason=reason,
            staff_id=viewer.staff_id,
            login_id=viewer.login_id,
            idempotency_key=idempotency_key,
        )

    return await perform(
        info, work, CreditPayload, present=functools.partial(_present, info.context)
    )


async def delete_credit_entry(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The credit entry's id.")],
) -> CreditPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> CreditChange:
        entry_id = existing_id(id, "CreditEntry")
        return await services.delete_credit_entry(conn, entry_id, staff_id=viewer.staff_id)

    return await perform(
        info, work, CreditPayload, present=functools.partial(_present, info.context)
    )


@strawberry.type(description="Root fields of the credit ledger: what can be changed.")
class Mutations:
    add_credit: CreditPayload = strawberry.field(
        resolver=add_credit,
        extensions=staff(StaffPermission.MANAGE_BILLING),
        description="Add credit to a client: a positive amount and a description (SPEC 3.1).",
    )
    remove_credit: CreditPayload = strawberry.field(
        resolver=remove_credit,
        extensions=staff(StaffPermission.MANAGE_BILLING),
        description="Remove credit, never below zero; logged as a negative entry (SPEC 3.2).",
    )
    delete_credit_entry: CreditPayload = strawberry.field(
        resolver=delete_credit_entry,
        extensions=staff(StaffPermission.MANAGE_BILLING),
        description="Delete a log entry; its amount leaves the balance, never below zero "
        "(SPEC 3.3). Credit applied to an invoice cannot be deleted.",
    )
