"""The client area's own profile and the confirmation of a new login address (SPEC 1.2,
5.5)."""

from __future__ import annotations

import functools
from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth.permissions import ContactPermission
from domain.auth.viewer import Viewer
from domain.clients import login_email
from domain.clients.services import ClientUpdate
from resolvers.clients import present_update
from resolvers.context import Context
from resolvers.inputs import provided_fields
from resolvers.mutation import perform, perform_public
from resolvers.permissions import client_area
from schema.client_inputs import UpdateMyProfileInput
from schema.clients import ClientPayload
from schema.common import OkPayload


async def update_my_profile(
    info: Info[Context, None],
    input: Annotated[
        UpdateMyProfileInput, strawberry.argument(description="The fields to change.")
    ],
) -> ClientPayload:
    """The client area's own profile (PROFILE permission for sub-accounts)."""

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> ClientUpdate:
        assert viewer.client_id is not None  # a client-area viewer, as the field requires
        return await login_email.update_own_profile(
            conn,
            viewer.client_id,
            provided_fields(input, exclude=("current_password",)),
            current_password=input.current_password or None,
            may_change_login_email=viewer.contact_id is None,
            client_area_url=info.context.services.client_area_url,
        )

    return await perform(
        info,
        work,
        ClientPayload,
        present=functools.partial(present_update, info.context),
        # Checking the current password hashes it: budgeted as any password change.
        hashing_password=bool(input.current_password),
    )


async def confirm_email_change(
    info: Info[Context, None],
    token: Annotated[
        str, strawberry.argument(description="The token from the emailed confirmation link.")
    ],
) -> OkPayload:
    async def work(conn: asyncpg.Connection) -> OkPayload:
        await login_email.confirm_email_change(
            conn, token, client_area_url=info.context.services.client_area_url
        )
        return OkPayload(ok=True)

    return await perform_public(info, work, OkPayload)


@strawberry.type(description="Root fields of the client area's own profile: what can be changed.")
class Mutations:
    update_my_profile: ClientPayload = strawberry.field(
        resolver=update_my_profile,
        extensions=client_area(ContactPermission.PROFILE),
        description="Client area: change the account's own profile. A new email (holder "
        "only) needs the current password and is confirmed by a link emailed to it.",
    )
    confirm_email_change: OkPayload = strawberry.field(
        resolver=confirm_email_change,
        description="Make the address a confirmation link was emailed to the account's login "
        "(once); the old address is told.",
    )
