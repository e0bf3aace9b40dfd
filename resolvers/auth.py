"""Login, logout and the viewer (SPEC 5.1, 10.1)."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth import sessions
from domain.auth.login import LoginRequest, log_in
from domain.auth.permissions import StaffPermission
from domain.auth.viewer import Viewer as ViewerModel
from domain.billing.status_filter import NOTHING_CHOSEN, remember_status_filter
from resolvers.context import SESSION_COOKIE, Context
from resolvers.mutation import perform, refusing
from resolvers.permissions import staff
from schema.auth import LoginPayload, Viewer
from schema.common import OkPayload


async def login(
    info: Info[Context, None],
    email: Annotated[str, strawberry.argument(description="The login's email address.")],
    password: Annotated[str, strawberry.argument(description="The password.")],
    totp_code: Annotated[
        str | None,
        strawberry.argument(description="The 6-digit authenticator code, when 2FA is on."),
    ] = None,
) -> LoginPayload:
    ctx = info.context
    request = LoginRequest(
        email=email,
        password=password,
        totp_code=totp_code,
        ip_address=ctx.client_ip,
        user_agent=ctx.request.headers.get("user-agent"),
    )

    async def attempt() -> LoginPayload:
        # No `perform`: the login runs its own transactions and throttle on the pool.
        token, viewer = await log_in(
            ctx.pool,
            ctx.services.throttle,
            request,
            session_ttl=ctx.services.session_ttl,
            keyring=ctx.services.card_keyring,
        )
        ctx.set_viewer(viewer)
        ctx.response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(ctx.services.session_ttl.total_seconds()),
            httponly=True,
            samesite="strict",
            secure=ctx.services.secure_cookies,
        )
        return LoginPayload(token=token, viewer=Viewer.build(viewer))

    return await refusing(LoginPayload, attempt)


async def logout(info: Info[Context, None]) -> bool:
    """End the current session (bearer token or cookie); true when there was one."""
    ctx = info.context
    token = ctx.session_token()
    ctx.response.delete_cookie(SESSION_COOKIE)
    if token is None:
        return False
    async with ctx.connection() as conn:
        await sessions.end_session(conn, token)
    ctx.set_viewer(None)
    return True


async def viewer(info: Info[Context, None]) -> Viewer | None:
    current = await info.context.get_viewer()
    return Viewer.build(current) if current else None


@strawberry.type(description="Root fields of auth: what can be read.")
class Queries:
    viewer: Viewer | None = strawberry.field(
        resolver=viewer, description="Who is logged in; null when nobody is."
    )


async def clear_product_status_filter(info: Info[Context, None]) -> OkPayload:
    async def work(conn: asyncpg.Connection, viewer: ViewerModel) -> OkPayload:
        # An API key has no session: nothing is remembered for it, nothing to clear.
        if viewer.session_id is not None:
            await remember_status_filter(conn, viewer.session_id, NOTHING_CHOSEN)
        return OkPayload(ok=True)

    async def present(payload: OkPayload) -> OkPayload:
        info.context.status_filter.note(NOTHING_CHOSEN)  # later fields of this request too
        return payload

    return await perform(info, work, OkPayload, present=present)


@strawberry.type(description="Root fields of auth: what can be changed.")
class Mutations:
    login: LoginPayload = strawberry.field(
        resolver=login,
        description="Log in with email and password (and TOTP code when 2FA is on).",
    )
    logout: bool = strawberry.field(resolver=logout, description="End this session.")
    clear_product_status_filter: OkPayload = strawberry.field(
        resolver=clear_product_status_filter,
        extensions=staff(StaffPermission.VIEW_CLIENTS),
        description="Forget the session's product status filter (SPEC 1.9): every client's "
        "services, addons and domains are listed in all statuses again (staff).",
    )
