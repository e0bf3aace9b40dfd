"""Two-factor login (SPEC 1.7): the login turns it on from the client area; staff only off."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.auth import two_factor
from domain.auth.permissions import StaffPermission
from domain.errors import DomainError, ErrorCode
from resolvers.clients import presentation
from resolvers.context import Context
from resolvers.inputs import existing_id
from resolvers.permissions import client_area, staff
from schema.auth import BeginTwoFactorSetupPayload
from schema.clients import Client, ClientPayload
from schema.common import OkPayload, user_errors


async def begin_two_factor_setup(info: Info[Context, None]) -> BeginTwoFactorSetupPayload:
    ctx = info.context
    viewer = await ctx.get_viewer()
    assert viewer is not None  # the root field's permission class saw to that
    try:
        async with ctx.transaction() as conn:
            setup = await two_factor.begin_two_factor_setup(
                conn, viewer.login_id, viewer.email, ctx.services.card_keyring
            )
    except DomainError as error:
        return BeginTwoFactorSetupPayload(secret=None, otpauth_uri=None, errors=user_errors(error))
    return BeginTwoFactorSetupPayload(secret=setup.secret, otpauth_uri=setup.otpauth_uri)


async def confirm_two_factor_setup(
    info: Info[Context, None],
    code: Annotated[
        str, strawberry.argument(description="The 6-digit code the authenticator shows now.")
    ],
) -> OkPayload:
    """Wrong codes count as failed logins of the viewer's account (SPEC 5.4)."""
    ctx = info.context
    viewer = await ctx.get_viewer()
    assert viewer is not None
    throttle = ctx.services.throttle
    try:
        if not await throttle.begin_attempt(viewer.email, ctx.client_ip):
            raise DomainError.single(
                ErrorCode.TOO_MANY_ATTEMPTS, "Too many wrong codes. Try again later.", "code"
            )
        async with ctx.transaction() as conn:
            await two_factor.confirm_two_factor_setup(
                conn,
                viewer.login_id,
                code,
                ctx.services.card_keyring,
                code_unused=lambda used: throttle.claim_totp_code(viewer.login_id, used),
            )
        await throttle.record_success(viewer.email, ctx.client_ip)
    except DomainError as error:
        return OkPayload(ok=False, errors=user_errors(error))
    return OkPayload(ok=True)


async def disable_client_two_factor(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The client's id.")],
) -> ClientPayload:
    ctx = info.context
    viewer = await ctx.get_viewer()
    try:
        client_id = existing_id(id, "Client")
        async with ctx.transaction() as conn:
            row = await two_factor.disable_client_two_factor(
                conn, client_id, staff_id=viewer.staff_id if viewer else None
            )
    except DomainError as error:
        return ClientPayload(client=None, errors=user_errors(error))
    return ClientPayload(client=Client.build(row, await presentation(ctx)))


@strawberry.type(description="Root fields of two-factor login: what can be changed.")
class Mutations:
    begin_two_factor_setup: BeginTwoFactorSetupPayload = strawberry.field(
        resolver=begin_two_factor_setup,
        extensions=client_area(),
        description="Start turning on two-factor login for this login: returns the TOTP "
        "secret, shown only this once (client area).",
    )
    confirm_two_factor_setup: OkPayload = strawberry.field(
        resolver=confirm_two_factor_setup,
        extensions=client_area(),
        description="Turn two-factor login on with a code from the authenticator (client area).",
    )
    disable_client_two_factor: ClientPayload = strawberry.field(
        resolver=disable_client_two_factor,
        extensions=staff(StaffPermission.MANAGE_LOGIN_SECURITY),
        description="Turn a client's two-factor login off (staff with MANAGE_LOGIN_SECURITY); "
        "staff can never turn it on.",
    )
