"""Password resets and staff password actions (SPEC 5.2, 5.3)."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth import resets
from domain.auth.permissions import StaffPermission
from domain.auth.viewer import Viewer
from domain.errors import DomainError, ErrorCode
from resolvers.context import Context
from resolvers.inputs import existing_id
from resolvers.mutation import perform
from resolvers.permissions import own_login, require_two_factor_override, staff
from schema.auth import ConfirmPasswordResetPayload, RequestPasswordResetPayload
from schema.common import OkPayload, user_errors

ClientId = Annotated[
    strawberry.ID | None,
    strawberry.argument(description="The client whose account holder's login it is."),
]
ContactId = Annotated[
    strawberry.ID | None,
    strawberry.argument(description="Or the sub-account contact whose login it is."),
]


async def request_password_reset(
    info: Info[Context, None],
    email: Annotated[str, strawberry.argument(description="The login's email address.")],
) -> RequestPasswordResetPayload:
    """The same answer, after the same work, whether or not the address has a login
    (SPEC 5.2): the request is recorded and handed over, and the workers answer it."""
    ctx = info.context
    if not await ctx.services.throttle.spend_reset_request(email, ctx.client_ip):
        error = DomainError.single(
            ErrorCode.TOO_MANY_ATTEMPTS, "Too many reset requests. Try again later.", "email"
        )
        return RequestPasswordResetPayload(ok=False, errors=user_errors(error))
    async with ctx.transaction() as conn:
        request_id = await resets.request_password_reset(conn, email)
    if request_id is not None:
        await ctx.services.enqueue_reset_requests([request_id])
    return RequestPasswordResetPayload(ok=True)


async def confirm_password_reset(
    info: Info[Context, None],
    token: Annotated[str, strawberry.argument(description="The token from the emailed link.")],
    new_password: Annotated[
        str | None,
        strawberry.argument(
            description="The new password; left out when the installation emails a random "
            "one (passwordResetMode EMAIL_RANDOM)."
        ),
    ] = None,
) -> ConfirmPasswordResetPayload:
    ctx = info.context
    viewer = await ctx.get_viewer()
    try:
        async with ctx.transaction(hashing_password=True) as conn:
            await resets.confirm_password_reset(
                conn,
                token,
                new_password,
                client_area_url=ctx.services.client_area_url,
                keep_session_id=viewer.session_id if viewer else None,
            )
    except DomainError as error:
        return ConfirmPasswordResetPayload(ok=False, errors=user_errors(error))
    return ConfirmPasswordResetPayload(ok=True)


def _target(client_id: str | None, contact_id: str | None) -> dict[str, int | None]:
    return {
        "client_id": None if client_id is None else existing_id(client_id, "Client", "client_id"),
        "contact_id": (
            None if contact_id is None else existing_id(contact_id, "Contact", "contact_id")
        ),
    }


async def change_my_password(
    info: Info[Context, None],
    current_password: Annotated[
        str, strawberry.argument(description="The password the login has now.")
    ],
    new_password: Annotated[str, strawberry.argument(description="The password it gets.")],
) -> OkPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> OkPayload:
        await resets.change_own_password(conn, viewer, current_password, new_password)
        return OkPayload(ok=True)

    return await perform(info, work, OkPayload, hashing_password=True)


async def reset_and_send_password(
    info: Info[Context, None], client_id: ClientId = None, contact_id: ContactId = None
) -> OkPayload:
    ctx = info.context
    viewer = await ctx.get_viewer()
    try:
        target = _target(client_id, contact_id)
        async with ctx.transaction(hashing_password=True) as conn:
            await resets.reset_and_send_password(
                conn,
                **target,
                staff_id=viewer.staff_id if viewer else None,
                client_area_url=ctx.services.client_area_url,
            )
    except DomainError as error:
        return OkPayload(ok=False, errors=user_errors(error))
    return OkPayload(ok=True)


async def set_password(
    info: Info[Context, None],
    password: Annotated[str, strawberry.argument(description="The new password.")],
    client_id: ClientId = None,
    contact_id: ContactId = None,
) -> OkPayload:
    ctx = info.context
    viewer = await ctx.get_viewer()
    try:
        target = _target(client_id, contact_id)
        async with ctx.transaction(hashing_password=True) as conn:
            account = await resets.account_login_of(conn, **target)
            await require_two_factor_override(viewer, conn, account.login_id, in_input=False)
            await resets.set_account_password(
                conn, **target, password=password, staff_id=viewer.staff_id if viewer else None
            )
    except DomainError as error:
        return OkPayload(ok=False, errors=user_errors(error))
    return OkPayload(ok=True)


@strawberry.type(description="Root fields of passwords: what can be changed.")
class Mutations:
    request_password_reset: RequestPasswordResetPayload = strawberry.field(
        resolver=request_password_reset,
        description="Email a password reset link to this address if it has a client-area "
        "login; the answer is the same either way.",
    )
    confirm_password_reset: ConfirmPasswordResetPayload = strawberry.field(
        resolver=confirm_password_reset,
        description="Set a password with the token of a reset link (once).",
    )
    change_my_password: OkPayload = strawberry.field(
        resolver=change_my_password,
        extensions=own_login(),
        description="Change the password of the login making the request (staff, account "
        "holder or sub-account), given its current one; its other sessions end. Refused to "
        "API keys.",
    )
    reset_and_send_password: OkPayload = strawberry.field(
        resolver=reset_and_send_password,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="Reset a client's or sub-account's password and email it, or a link to "
        "choose one, as passwordResetMode says (staff).",
    )
    set_password: OkPayload = strawberry.field(
        resolver=set_password,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="Set a client's or sub-account's password (staff); its sessions end. A "
        "login with two-factor on also needs MANAGE_LOGIN_SECURITY.",
    )
