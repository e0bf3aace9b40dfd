"""Root fields of merging, deleting and exporting clients (SPEC 7.1, 7.2; GDPR export).

Merging and deleting both remove a client for good, so both need DELETE_CLIENTS (ADMIN only).
The staff export holds the email log and the audit entries of the client: it needs
VIEW_AUDIT_LOG, whose roles also read clients and emails. In the client area only the account
holder exports, never a sub-account.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from domain.auth.permissions import StaffPermission
from domain.auth.viewer import Viewer
from domain.clients import deletion, export, merge, models
from domain.errors import NotFound
from resolvers.clients import presentation
from resolvers.context import Context
from resolvers.inputs import existing_id, parse_id
from resolvers.mutation import perform
from resolvers.permissions import account_holder, staff
from schema.clients import Client, ClientPayload
from schema.common import NotFoundError, OkPayload
from schema.lifecycle import ClientExport


async def merge_clients(
    info: Info[Context, None],
    first_id: Annotated[strawberry.ID, strawberry.argument(description="One of the clients.")],
    second_id: Annotated[strawberry.ID, strawberry.argument(description="The other client.")],
    keep: Annotated[merge.MergeKeep, strawberry.argument(description="Whose profile stays.")],
) -> ClientPayload:
    ctx = info.context

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> models.Client:
        return await merge.merge_clients(
            conn,
            existing_id(first_id, "Client", "first_id"),
            existing_id(second_id, "Client", "second_id"),
            merge.MergeKeep(keep),
            keyring=ctx.services.card_keyring,
            staff_id=viewer.staff_id,
        )

    async def present(row: models.Client) -> ClientPayload:
        return ClientPayload(client=Client.build(row, await presentation(ctx)))

    return await perform(info, work, ClientPayload, present=present)


async def delete_client(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The client's id.")],
) -> OkPayload:
    ctx = info.context

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> list[str]:
        return await deletion.delete_client(
            conn, existing_id(id, "Client"), staff_id=viewer.staff_id
        )

    async def present(stored_files: list[str]) -> OkPayload:
        # Only now that the deletion has committed: a rolled-back one still needs its bytes.
        await ctx.services.files.remove(stored_files)
        return OkPayload(ok=True)

    return await perform(info, work, OkPayload, present=present)


async def _export(
    ctx: Context, client_id: int | None, staff_id: int | None, *, for_staff: bool
) -> ClientExport:
    # A missing client is a NOT_FOUND GraphQL error: the result has no `errors` list.
    try:
        if client_id is None:
            raise NotFound("Client")
        async with ctx.connection() as conn:
            document, generated_at = await export.export_client_data(
                conn, client_id, staff_id=staff_id, for_staff=for_staff
            )
    except NotFound:
        raise NotFoundError("Client") from None
    return ClientExport(document=JSON(document), generated_at=generated_at)


async def export_client_data(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The client's id.")],
) -> ClientExport:
    ctx = info.context
    viewer = await ctx.get_viewer()
    staff_id = viewer.staff_id if viewer else None
    return await _export(ctx, parse_id(id, "Client"), staff_id, for_staff=True)


async def export_my_data(info: Info[Context, None]) -> ClientExport:
    viewer = await info.context.get_viewer()
    assert viewer is not None and viewer.client_id is not None
    return await _export(info.context, viewer.client_id, None, for_staff=False)


@strawberry.type(description="Root fields of client data: what can be read.")
class Queries:
    export_client_data: ClientExport = strawberry.field(
        resolver=export_client_data,
        extensions=staff(StaffPermission.VIEW_AUDIT_LOG),
        description="Everything held about a client, as one JSON document (staff; GDPR "
        "access and portability). The export is recorded in the audit log.",
    )


@strawberry.type(description="Root fields of merging and deleting clients.")
class Mutations:
    merge_clients: ClientPayload = strawberry.field(
        resolver=merge_clients,
        extensions=staff(StaffPermission.DELETE_CLIENTS),
        description="Move everything of one client to the other and remove it, in one "
        "transaction (SPEC 7.1); its id then leads to the kept client.",
    )
    delete_client: OkPayload = strawberry.field(
        resolver=delete_client,
        extensions=staff(StaffPermission.DELETE_CLIENTS),
        description="Remove a client and everything of it; its transactions stay as income "
        "records with its id, name and company (SPEC 7.2).",
    )
    export_my_data: ClientExport = strawberry.field(
        resolver=export_my_data,
        extensions=account_holder(),
        description="Client area, account holder only: everything held about the account, "
        "as one JSON document (GDPR access and portability), without the staff's notes.",
    )
