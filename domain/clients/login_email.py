"""The client area's own profile, and changing the account holder's login address (SPEC 1.2,
5.5).

The holder's email is also its login. From the client area a new address is never set at
once: it needs the current password, and is confirmed by following a link emailed to the
new address (a one-time token of `domain.auth.password_tokens`, purpose EMAIL_CHANGE, that
carries the address). Asking looks at no other account, so the answer is the same, after
the same work, whether or not some login holds the address: whether one does is found out
on confirmation and told only to the reader of the new address, who holds it. Once it is
confirmed, the old address is told of the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from domain import audit
from domain.auth.password_tokens import (
    EMAIL_CHANGE_TOKEN_TTL,
    TokenPurpose,
    issue_token,
    redeem_email_change,
    well_formed,
)
from domain.auth.passwords import verify_password
from domain.clients.models import Client, ClientStatus
from domain.clients.profile import email_taken
from domain.clients.queries import get_client
from domain.clients.services import ClientUpdate, lock_client, update_client
from domain.emails.outbox import queue_email
from domain.errors import DomainError, ErrorCode, FieldError
from domain.validation import InputCheck, normalize_email

CONFIRMATION = "email_change_confirmation"
NOTICE = "email_change_notice"

_INVALID_TOKEN = DomainError.single(
    ErrorCode.INVALID,
    "This link is invalid, has expired or was used already; change the address again from "
    "your profile to get a new one.",
    "token",
)
_ADDRESS_TAKEN = DomainError.single(
    ErrorCode.CONFLICT,
    "This address is used by another account now, so it cannot become this account's "
    "login; choose another address from your profile.",
    "token",
)
_ACCOUNT_CLOSED = DomainError.single(
    ErrorCode.ACCOUNT_CLOSED, "This account is closed; its login address stays.", "token"
)


async def update_own_profile(
    conn: asyncpg.Connection,
    client_id: int,
    values: Mapping[str, Any],
    *,
    current_password: str | None,
    may_change_login_email: bool,
    client_area_url: str,
) -> ClientUpdate:
    """Change the client area's own profile fields; all or nothing (SPEC 1.2).

    A new email (another address than the current one, not just another spelling) needs
    `current_password` and is not set: a confirmation link is emailed to it, and a warning
    says so (SPEC 5.5). Only the holder (`may_change_login_email`) changes it: whoever owns
    an address a sub-account chose could take the account over."""
    async with conn.transaction():
        current = await lock_client(conn, client_id)
        check = InputCheck()
        profile = dict(values)
        new_email = _new_address(current, profile.get("email"))
        if new_email is not None:
            del profile["email"]
            if not may_change_login_email:
                check.fail(
                    "email",
                    ErrorCode.FORBIDDEN,
                    "Only the main account holder changes the account's email (its login).",
                )
            else:
                new_email = check.email("email", new_email)
                if not current_password:
                    check.fail(
                        "current_password",
                        ErrorCode.REQUIRED,
                        "Give your current password to change your login address.",
                    )
        profile_errors: list[FieldError] = []
        try:
            update = await update_client(conn, client_id, profile, staff_id=None)
        except DomainError as error:
            profile_errors = error.errors
        if new_email is not None and not check.errors and not profile_errors:
            assert current_password is not None
            if not await _password_matches(conn, current.owner_login_id, current_password):
                check.fail("current_password", ErrorCode.INVALID, "The password is not right.")
        if check.errors or profile_errors:
            raise DomainError([*check.errors, *profile_errors])  # rolls the profile back too
        if new_email is None:
            return update
        await _send_confirmation(conn, update.client, new_email, client_area_url)
        notice = (
            f"A confirmation link was emailed to {new_email}; the login address changes when "
            "it is followed."
        )
        return ClientUpdate(client=update.client, warnings=[*update.warnings, notice])


def _new_address(current: Client, given: Any) -> str | None:
    """`given` when it is another address than the client's; a blank one is left to the
    profile's checks (required), another spelling of the same one to the profile update."""
    if not isinstance(given, str) or not given.strip():
        return None
    return None if normalize_email(given) == normalize_email(current.email) else given


async def _password_matches(conn: asyncpg.Connection, login_id: int, password: str) -> bool:
    password_hash = await conn.fetchval("SELECT password_hash FROM logins WHERE id = $1", login_id)
    return await verify_password(password_hash, password)


def _user(client: Client) -> dict[str, str]:
    return {"first_name": client.first_name, "email": client.email}


async def _queue_holder_email(
    conn: asyncpg.Connection, client: Client, to_address: str, template: str, **context: Any
) -> None:
    # Account mail goes to the one address it is about, never to contact copies.
    await queue_email(
        conn,
        template=template,
        to_address=to_address,
        to_name=f"{client.first_name} {client.last_name}",
        client_id=client.id,
        context=context,
    )


async def _send_confirmation(
    conn: asyncpg.Connection, client: Client, new_email: str, client_area_url: str
) -> None:
    """Email `new_email` a link that makes it the holder's login; earlier links stop working.
    No other account is looked at (see the module's docstring)."""
    token = await issue_token(
        conn,
        client.owner_login_id,
        TokenPurpose.EMAIL_CHANGE,
        ttl=EMAIL_CHANGE_TOKEN_TTL,
        new_email=new_email,
    )
    await _queue_holder_email(
        conn,
        client,
        new_email,
        CONFIRMATION,
        user=_user(client),
        new_email=new_email,
        valid_hours=int(EMAIL_CHANGE_TOKEN_TTL.total_seconds() // 3600),
        client_area_url=client_area_url,
        secret={"token": token},
    )


async def confirm_email_change(
    conn: asyncpg.Connection, token: str, *, client_area_url: str
) -> Client:
    """Spend an address change's token: the holder's login and profile email become the
    address it carries, and the old address is told (SPEC 5.5). An address another account
    took since it was asked for is refused, and the token stays live until it expires."""
    if not well_formed(token):
        raise _INVALID_TOKEN
    async with conn.transaction():
        redeemed = await redeem_email_change(conn, token)
        if redeemed is None:
            raise _INVALID_TOKEN
        login_id, new_email = redeemed
        client_id = await conn.fetchval(
            "SELECT id FROM clients WHERE owner_login_id = $1", login_id
        )
        if client_id is None:
            raise _INVALID_TOKEN  # the login holds no account any more
        current = await lock_client(conn, client_id)
        if current.status is ClientStatus.CLOSED:
            raise _ACCOUNT_CLOSED
        if await email_taken(conn, new_email, client_id):
            raise _ADDRESS_TAKEN
        try:
            await conn.execute("UPDATE logins SET email = $2 WHERE id = $1", login_id, new_email)
            await conn.execute(
                "UPDATE clients SET email = $2, updated_at = now() WHERE id = $1",
                client_id,
                new_email,
            )
        except asyncpg.UniqueViolationError:
            raise _ADDRESS_TAKEN from None  # taken by a concurrent request since checked
        await audit.record(
            conn,
            staff_id=None,
            action="client.login_email_changed",
            client_id=client_id,
            changes={"email": {"from": current.email, "to": new_email}},
        )
        await _queue_holder_email(
            conn,
            current,
            current.email,
            NOTICE,
            user=_user(current),
            new_email=new_email,
            client_area_url=client_area_url,
        )
        client = await get_client(conn, client_id)
        assert client is not None
        return client
