"""Password resets and staff password actions (SPEC 5.2, 5.3)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
from resolvers.mutation import perform, perform_public, refusing
from resolvers.permissions import own_login, require_two_factor_override, staff
from schema.auth import ConfirmPasswordResetPayload, RequestPasswordResetPayload
from schema.common import OkPayload

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

    async def work(conn: asyncpg.Connection) -> int | None:
        if not await ctx.services.throttle.spend_reset_request(email, ctx.client_ip):
            raise DomainError.single(
                ErrorCode.TOO_MANY_ATTEMPTS, "Too many reset requests. Try again later.", "email"
            )
        return await resets.request_password_reset(conn, email)

    async def present(request_id: int | None) -> RequestPasswordResetPayload:
        if request_id is not None:
            await ctx.services.enqueue_reset_requests([request_id])
        return RequestPasswordResetPayload(ok=True)

    return await perform_public(info, work, RequestPasswordResetPayload, present=present)


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

    async def work(conn: asyncpg.Connection) -> ConfirmPasswordResetPayload:
        await resets.confirm_password_reset(
            conn,
            token,
            new_password,
            client_area_url=ctx.services.client_area_url,
            keep_session_id=viewer.session_id if viewer else None,
        )
        return ConfirmPasswordResetPayload(ok=True)

    return await perform_public(info, work, ConfirmPasswordResetPayload, hashing_password=True)


Target = dict[str, int | None]


def _target(client_id: str | None, contact_id: str | None) -> Target:
    return {
        "client_id": None if client_id is None else existing_id(client_id, "Client", "client_id"),
        "contact_id": (
            None if contact_id is None else existing_id(contact_id, "Contact", "contact_id")
        ),
    }


async def _on_target(
    info: Info[Context, None],
    client_id: str | None,
    contact_id: str | None,
    act: Callable[[asyncpg.Connection, Viewer, Target], Awaitable[None]],
) -> OkPayload:
    """`act` in one transaction that hashes a password, on the login the ids name; ids that
    cannot name one are refused before the transaction, sparing the password budget."""

    async def attempt() -> OkPayload:
        target = _target(client_id, contact_id)

        async def work(conn: asyncpg.Connection, viewer: Viewer) -> OkPayload:
            await act(conn, viewer, target)
            return OkPayload(ok=True)

        return await perform(info, work, OkPayload, hashing_password=True)

    return await refusing(OkPayload, attempt)


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
    async def act(conn: asyncpg.Connection, viewer: Viewer, target: Target) -> None:
        await resets.reset_and_send_password(
            conn,
            **target,
            staff_id=viewer.staff_id,
            client_area_url=info.context.services.client_area_url,
        )

    return await _on_target(info, client_id, contact_id, act)


async def set_password(
    info: Info[Context, None],
    password: Annotated[str, strawberry.argument(description="The new password.")],
    client_id: ClientId = None,
    contact_id: ContactId = None,
) -> OkPayload:
    async def act(conn: asyncpg.Connection, viewer: Viewer, target: Target) -> None:
        account = await resets.account_login_of(conn, **target)
        await require_two_factor_override(viewer, conn, account.login_id, in_input=False)
        await resets.set_account_password(
            conn, **target, password=password, staff_id=viewer.staff_id
        )

    return await _on_target(info, client_id, contact_id, act)


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
