"""API keys (SPEC 11.3): made, listed and revoked by staff with MANAGE_STAFF, the permission
that administers who may act for the installation; a key itself never holds it."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth.permissions import StaffPermission
from domain.auth.viewer import Viewer
from domain.staff import api_keys
from resolvers.context import Context
from resolvers.inputs import existing_id
from resolvers.mutation import perform
from resolvers.permissions import staff
from schema.api_keys import ApiKey, CreateApiKeyInput, CreateApiKeyPayload
from schema.common import OkPayload


async def list_api_keys(info: Info[Context, None]) -> list[ApiKey]:
    async with info.context.connection() as conn:
        return [ApiKey.build(key) for key in await api_keys.api_keys(conn)]


async def create_api_key(
    info: Info[Context, None],
    input: Annotated[CreateApiKeyInput, strawberry.argument(description="The key to make.")],
) -> CreateApiKeyPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> CreateApiKeyPayload:
        assert viewer.staff_id is not None  # MANAGE_STAFF: a staff member, never a key
        key, secret = await api_keys.create_api_key(
            conn,
            name=input.name,
            role_id=existing_id(input.role_id, "StaffRole", "roleId"),
            expires_at=input.expires_at,
            staff_id=viewer.staff_id,
        )
        return CreateApiKeyPayload(api_key=ApiKey.build(key), secret=secret)

    return await perform(info, work, CreateApiKeyPayload)


async def revoke_api_key(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The key's id.")],
) -> OkPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> OkPayload:
        assert viewer.staff_id is not None
        await api_keys.revoke_api_key(conn, existing_id(id, "ApiKey"), staff_id=viewer.staff_id)
        return OkPayload(ok=True)

    return await perform(info, work, OkPayload)


@strawberry.type(description="Root fields of API keys: what can be read.")
class Queries:
    api_keys: list[ApiKey] = strawberry.field(
        resolver=list_api_keys,
        extensions=staff(StaffPermission.MANAGE_STAFF),
        description="The API keys in use (neither revoked nor expired), newest first. Needs "
        "MANAGE_STAFF, which no key holds.",
    )


@strawberry.type(description="Root fields of API keys: what can be changed.")
class Mutations:
    create_api_key: CreateApiKeyPayload = strawberry.field(
        resolver=create_api_key,
        extensions=staff(StaffPermission.MANAGE_STAFF),
        description="Make an API key acting with a role, on behalf of the member making it "
        "(disabling that member revokes it). Needs MANAGE_STAFF: a key can do what its role "
        "can, so making one is administering staff. The secret is returned only now.",
    )
    revoke_api_key: OkPayload = strawberry.field(
        resolver=revoke_api_key,
        extensions=staff(StaffPermission.MANAGE_STAFF),
        description="Revoke an API key: it is refused from the next request on.",
    )
