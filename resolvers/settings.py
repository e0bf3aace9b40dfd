"""General settings (SPEC 10.2)."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain import settings
from domain.auth.permissions import StaffPermission
from domain.auth.viewer import Viewer
from resolvers.context import Context
from resolvers.inputs import provided_fields
from resolvers.mutation import perform
from resolvers.permissions import logged_in, staff
from schema.settings import GeneralSettings, GeneralSettingsInput, GeneralSettingsPayload


async def general_settings(info: Info[Context, None]) -> GeneralSettings:
    async with info.context.connection() as conn:
        return GeneralSettings.build(await settings.get_general_settings(conn))


async def update_general_settings(
    info: Info[Context, None],
    input: Annotated[
        GeneralSettingsInput, strawberry.argument(description="The settings to change.")
    ],
) -> GeneralSettingsPayload:
    # A null for a setting means "keep it", like an omitted one: no setting can be unset.
    changes = {k: v for k, v in provided_fields(input).items() if v is not None}

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> settings.GeneralSettings:
        return await settings.update_general_settings(conn, **changes)

    async def present(updated: settings.GeneralSettings) -> GeneralSettingsPayload:
        # Its own notification reaches this process a moment later: the next request of
        # this client, which may come sooner, must already see the change.
        info.context.services.reference.drop()
        return GeneralSettingsPayload(settings=GeneralSettings.build(updated))

    return await perform(info, work, GeneralSettingsPayload, present=present)


@strawberry.type(description="Root fields of settings: what can be read.")
class Queries:
    general_settings: GeneralSettings = strawberry.field(
        resolver=general_settings,
        extensions=logged_in(),
        description="General settings of the installation.",
    )


@strawberry.type(description="Root fields of settings: what can be changed.")
class Mutations:
    update_general_settings: GeneralSettingsPayload = strawberry.field(
        resolver=update_general_settings,
        extensions=staff(StaffPermission.MANAGE_SETTINGS),
        description="Change general settings such as the client display format.",
    )
