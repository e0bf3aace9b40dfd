"""Staff administration (SPEC 11.1): members and roles, all needing MANAGE_STAFF."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth.permissions import StaffPermission
from domain.auth.viewer import Viewer
from domain.staff import invitations, members, roles
from resolvers.context import Context
from resolvers.inputs import existing_id, parse_id, provided_fields
from resolvers.mutation import perform
from resolvers.pagination import After, First, connection, cursor_errors, looks_behind, page_request
from resolvers.permissions import staff
from schema.common import OkPayload
from schema.staff import (
    InviteStaffInput,
    Staff,
    StaffConnection,
    StaffPayload,
    StaffRoleInput,
    StaffRolePayload,
    StaffRoleType,
    UpdateStaffInput,
)

# The key of the staff list in its cursors.
STAFF_LIST = "staff"

StaffId = Annotated[strawberry.ID, strawberry.argument(description="The staff member's id.")]
RoleId = Annotated[strawberry.ID, strawberry.argument(description="The role's id.")]


async def staff_members(
    info: Info[Context, None],
    first: First = None,
    after: After = None,
    include_disabled: Annotated[
        bool, strawberry.argument(description="Also list disabled members.")
    ] = False,
) -> StaffConnection:
    request = page_request(STAFF_LIST, first, after, None, None)
    async with info.context.connection() as conn:
        with cursor_errors():
            page = await members.staff_members(
                conn,
                request,
                include_disabled=include_disabled,
                look_behind=looks_behind(info, request),
            )
    return connection(StaffConnection, page, STAFF_LIST, Staff.build)


async def staff_member(info: Info[Context, None], id: StaffId) -> Staff | None:
    staff_id = parse_id(id, "Staff")
    if staff_id is None:
        return None
    async with info.context.connection() as conn:
        member = await members.staff_member(conn, staff_id)
    return None if member is None else Staff.build(member)


async def staff_roles(info: Info[Context, None]) -> list[StaffRoleType]:
    async with info.context.connection() as conn:
        return [StaffRoleType.build(role) for role in await roles.staff_roles(conn)]


def _staff_payload(member: members.StaffMember) -> StaffPayload:
    return StaffPayload(staff=Staff.build(member))


async def invite_staff(
    info: Info[Context, None],
    input: Annotated[InviteStaffInput, strawberry.argument(description="Whom to invite.")],
) -> StaffPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> StaffPayload:
        member = await invitations.invite_staff(
            conn,
            email=input.email,
            first_name=input.first_name,
            last_name=input.last_name,
            role_id=existing_id(input.role_id, "StaffRole", "roleId"),
            acting_staff_id=viewer.staff_id,
            client_area_url=info.context.services.client_area_url,
        )
        return _staff_payload(member)

    return await perform(info, work, StaffPayload)


async def update_staff(
    info: Info[Context, None],
    id: StaffId,
    input: Annotated[UpdateStaffInput, strawberry.argument(description="What to change.")],
) -> StaffPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> StaffPayload:
        changes: dict[str, Any] = provided_fields(input)
        if changes.get("role_id") is not None:
            changes["role_id"] = existing_id(changes["role_id"], "StaffRole", "roleId")
        member = await members.update_staff(
            conn, existing_id(id, "Staff"), changes, acting_staff_id=viewer.staff_id
        )
        return _staff_payload(member)

    return await perform(info, work, StaffPayload)


async def _set_disabled(info: Info[Context, None], id: str, disabled: bool) -> StaffPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> StaffPayload:
        member = await members.set_staff_disabled(
            conn, existing_id(id, "Staff"), disabled, acting_staff_id=viewer.staff_id
        )
        return _staff_payload(member)

    return await perform(info, work, StaffPayload)


async def disable_staff(info: Info[Context, None], id: StaffId) -> StaffPayload:
    return await _set_disabled(info, id, True)


async def enable_staff(info: Info[Context, None], id: StaffId) -> StaffPayload:
    return await _set_disabled(info, id, False)


async def reset_staff_password(info: Info[Context, None], id: StaffId) -> OkPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> OkPayload:
        await invitations.reset_staff_password(
            conn,
            existing_id(id, "Staff"),
            acting_staff_id=viewer.staff_id,
            client_area_url=info.context.services.client_area_url,
        )
        return OkPayload(ok=True)

    return await perform(info, work, OkPayload)


async def save_staff_role(
    info: Info[Context, None],
    input: Annotated[StaffRoleInput, strawberry.argument(description="The role to save.")],
) -> StaffRolePayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> StaffRolePayload:
        role = await roles.save_role(
            conn,
            role_id=None if input.id is None else existing_id(input.id, "StaffRole"),
            name=input.name,
            permissions=input.permissions,
            staff_id=viewer.staff_id,
        )
        return StaffRolePayload(role=StaffRoleType.build(role))

    return await perform(info, work, StaffRolePayload)


async def delete_staff_role(info: Info[Context, None], id: RoleId) -> OkPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> OkPayload:
        await roles.delete_role(conn, existing_id(id, "StaffRole"), staff_id=viewer.staff_id)
        return OkPayload(ok=True)

    return await perform(info, work, OkPayload)


@strawberry.type(description="Root fields of staff administration: what can be read.")
class Queries:
    staff_members: StaffConnection = strawberry.field(
        resolver=staff_members,
        extensions=staff(StaffPermission.MANAGE_STAFF),
        description="The staff, oldest member first; disabled ones only when asked for.",
    )
    staff_member: Staff | None = strawberry.field(
        resolver=staff_member,
        extensions=staff(StaffPermission.MANAGE_STAFF),
        description="A staff member by id; null when there is none.",
    )
    staff_roles: list[StaffRoleType] = strawberry.field(
        resolver=staff_roles,
        extensions=staff(StaffPermission.MANAGE_STAFF),
        description="Every staff role: the four built-in ones first, then custom ones.",
    )


@strawberry.type(description="Root fields of staff administration: what can be changed.")
class Mutations:
    invite_staff: StaffPayload = strawberry.field(
        resolver=invite_staff,
        extensions=staff(StaffPermission.MANAGE_STAFF),
        description="Add a staff member and email it a single-use link, valid 72 hours, to "
        "choose its password (with acceptInvitation).",
    )
    update_staff: StaffPayload = strawberry.field(
        resolver=update_staff,
        extensions=staff(StaffPermission.MANAGE_STAFF),
        description="Change a member's names, address or role; the last active member able "
        "to manage staff keeps that ability.",
    )
    disable_staff: StaffPayload = strawberry.field(
        resolver=disable_staff,
        extensions=staff(StaffPermission.MANAGE_STAFF),
        description="Disable a member: it can no longer log in, and its sessions end at "
        "once. Refused for the last active member able to manage staff.",
    )
    enable_staff: StaffPayload = strawberry.field(
        resolver=enable_staff,
        extensions=staff(StaffPermission.MANAGE_STAFF),
        description="Let a disabled member log in again.",
    )
    reset_staff_password: OkPayload = strawberry.field(
        resolver=reset_staff_password,
        extensions=staff(StaffPermission.MANAGE_STAFF),
        description="Email a member a single-use link, valid 2 hours, to choose a new "
        "password (with confirmPasswordReset); a pending invitation is sent again instead.",
    )
    save_staff_role: StaffRolePayload = strawberry.field(
        resolver=save_staff_role,
        extensions=staff(StaffPermission.MANAGE_STAFF),
        description="Create or change a custom role; built-in roles cannot be changed.",
    )
    delete_staff_role: OkPayload = strawberry.field(
        resolver=delete_staff_role,
        extensions=staff(StaffPermission.MANAGE_STAFF),
        description="Delete a custom role; refused while a member holds it.",
    )
