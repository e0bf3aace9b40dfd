"""Two-factor login (SPEC 1.7, 11.2): every login kind turns its own on (and off, with a
code); staff with MANAGE_LOGIN_SECURITY turn anyone's off."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth import two_factor
from domain.auth.permissions import StaffPermission
from domain.auth.viewer import Viewer
from domain.clients.models import Client as ClientRow
from domain.errors import DomainError, ErrorCode
from resolvers.clients import presentation
from resolvers.context import Context
from resolvers.inputs import existing_id
from resolvers.mutation import perform
from resolvers.permissions import own_login, setting_up_two_factor, staff
from schema.auth import (
    BeginTwoFactorSetupPayload,
    ConfirmTwoFactorSetupPayload,
    RecoveryCodesPayload,
)
from schema.clients import Client, ClientPayload
from schema.common import OkPayload

T = TypeVar("T")


async def begin_two_factor_setup(info: Info[Context, None]) -> BeginTwoFactorSetupPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> BeginTwoFactorSetupPayload:
        setup = await two_factor.begin_two_factor_setup(
            conn, viewer.login_id, viewer.email, info.context.services.card_keyring
        )
        return BeginTwoFactorSetupPayload(secret=setup.secret, otpauth_uri=setup.otpauth_uri)

    return await perform(info, work, BeginTwoFactorSetupPayload)


CodeUse = Callable[[two_factor.CodeUnused], Awaitable[T]]


async def _with_own_code(ctx: Context, viewer: Viewer, use: CodeUse[T]) -> T:
    """Run `use(code_unused)`, a use case that checks one of the viewer's own codes: wrong
    codes count as failed logins of the viewer's account (SPEC 5.4), and an authenticator
    code it takes cannot log in again."""
    throttle = ctx.services.throttle
    if not await throttle.begin_attempt(viewer.email, ctx.client_ip):
        raise DomainError.single(
            ErrorCode.TOO_MANY_ATTEMPTS, "Too many wrong codes. Try again later.", "code"
        )
    result = await use(lambda used: throttle.claim_totp_code(viewer.login_id, used))
    await throttle.record_success(viewer.email, ctx.client_ip)
    return result


Code = Annotated[
    str,
    strawberry.argument(
        description="The 6-digit code the authenticator shows now, or a recovery code."
    ),
]


async def confirm_two_factor_setup(
    info: Info[Context, None],
    code: Annotated[
        str, strawberry.argument(description="The 6-digit code the authenticator shows now.")
    ],
) -> ConfirmTwoFactorSetupPayload:
    ctx = info.context

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> ConfirmTwoFactorSetupPayload:
        codes = await _with_own_code(
            ctx,
            viewer,
            lambda code_unused: two_factor.confirm_two_factor_setup(
                conn,
                viewer.login_id,
                code,
                ctx.services.card_keyring,
                code_unused=code_unused,
                session_id=viewer.session_id,
            ),
        )
        return ConfirmTwoFactorSetupPayload(ok=True, recovery_codes=codes)

    return await perform(info, work, ConfirmTwoFactorSetupPayload)


async def disable_my_two_factor(info: Info[Context, None], code: Code) -> OkPayload:
    ctx = info.context

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> OkPayload:
        await _with_own_code(
            ctx,
            viewer,
            lambda code_unused: two_factor.disable_my_two_factor(
                conn, viewer.login_id, code, ctx.services.card_keyring, code_unused=code_unused
            ),
        )
        return OkPayload(ok=True)

    return await perform(info, work, OkPayload)


async def regenerate_recovery_codes(info: Info[Context, None], code: Code) -> RecoveryCodesPayload:
    ctx = info.context

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> RecoveryCodesPayload:
        codes = await _with_own_code(
            ctx,
            viewer,
            lambda code_unused: two_factor.regenerate_recovery_codes(
                conn, viewer.login_id, code, ctx.services.card_keyring, code_unused=code_unused
            ),
        )
        return RecoveryCodesPayload(recovery_codes=codes)

    return await perform(info, work, RecoveryCodesPayload)


def _holder_id(value: strawberry.ID | None, type_name: str, field: str) -> int | None:
    return None if value is None else existing_id(value, type_name, field)


async def disable_two_factor(
    info: Info[Context, None],
    client_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="A client: its account holder's.")
    ] = None,
    contact_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="A sub-account (contact).")
    ] = None,
    staff_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="A staff member.")
    ] = None,
) -> OkPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> OkPayload:
        holder = two_factor.TwoFactorHolder(
            client_id=_holder_id(client_id, "Client", "clientId"),
            contact_id=_holder_id(contact_id, "Contact", "contactId"),
            staff_id=_holder_id(staff_id, "Staff", "staffId"),
        )
        await two_factor.disable_two_factor(conn, holder, staff_id=viewer.staff_id)
        return OkPayload(ok=True)

    return await perform(info, work, OkPayload)


async def disable_client_two_factor(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The client's id.")],
) -> ClientPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> ClientRow:
        return await two_factor.disable_client_two_factor(
            conn, existing_id(id, "Client"), staff_id=viewer.staff_id
        )

    async def present(row: ClientRow) -> ClientPayload:
        return ClientPayload(client=Client.build(row, await presentation(info.context)))

    return await perform(info, work, ClientPayload, present=present)


@strawberry.type(description="Root fields of two-factor login: what can be changed.")
class Mutations:
    begin_two_factor_setup: BeginTwoFactorSetupPayload = strawberry.field(
        resolver=begin_two_factor_setup,
        extensions=setting_up_two_factor(),
        description="Start turning on two-factor login for this login (staff, account holder "
        "or sub-account): returns the TOTP secret, shown only this once.",
    )
    confirm_two_factor_setup: ConfirmTwoFactorSetupPayload = strawberry.field(
        resolver=confirm_two_factor_setup,
        extensions=setting_up_two_factor(),
        description="Turn two-factor login on with a code from the authenticator; returns ten "
        "single-use recovery codes, shown only this once. This session then counts as having "
        "passed the second factor.",
    )
    disable_my_two_factor: OkPayload = strawberry.field(
        resolver=disable_my_two_factor,
        extensions=own_login(),
        description="Turn this login's own two-factor off, with an authenticator or recovery code.",
    )
    regenerate_recovery_codes: RecoveryCodesPayload = strawberry.field(
        resolver=regenerate_recovery_codes,
        extensions=own_login(),
        description="Replace this login's recovery codes by ten new ones, given an "
        "authenticator or recovery code.",
    )
    disable_two_factor: OkPayload = strawberry.field(
        resolver=disable_two_factor,
        extensions=staff(StaffPermission.MANAGE_LOGIN_SECURITY),
        description="Turn off the two-factor login of exactly one of a client's account "
        "holder, a sub-account or a staff member (staff with MANAGE_LOGIN_SECURITY); audited.",
    )
    disable_client_two_factor: ClientPayload = strawberry.field(
        resolver=disable_client_two_factor,
        extensions=staff(StaffPermission.MANAGE_LOGIN_SECURITY),
        description="Turn a client's two-factor login off (staff with MANAGE_LOGIN_SECURITY); "
        "staff can never turn it on.",
    )
