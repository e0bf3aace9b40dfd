"""Forgotten passwords and staff password actions (SPEC 5.2, 5.3).

Only client-area logins (account holders of clients that are not CLOSED, and sub-accounts)
ask for a reset link themselves; a staff member gets one from staff administration
(`domain.staff.invitations`) or a new password from `clientdesk create-staff --reset`.

Emails that carry a secret (a reset link, a new password) put it under the context key
`secret`: the outbox keeps it only until the email is sent (`domain.emails.outbox`).

A reset request does the same work whatever the address: it records the address and
nothing else, and the workers answer it (`answer_reset_requests`). Looking the address up,
issuing a token and queueing the email would otherwise make the request slower exactly
for the addresses that have a login, and its timing an oracle of which do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from domain import audit
from domain.auth import sessions
from domain.auth.password_tokens import (
    RESET_TOKEN_TTL,
    TokenPurpose,
    issue_token,
    redeem_token,
    well_formed,
)
from domain.auth.passwords import hash_password, random_password, verify_password
from domain.auth.viewer import Viewer
from domain.emails.outbox import queue_email
from domain.errors import DomainError, ErrorCode, NotFound
from domain.settings import PasswordResetMode, get_general_settings
from domain.validation import MAX_TEXT, InputCheck, normalize_email, storable_text

_INVALID_TOKEN = DomainError.single(
    ErrorCode.INVALID,
    "This link is invalid, has expired or was used already; ask for a new one.",
    "token",
)


@dataclass(frozen=True)
class AccountLogin:
    """A client-area login and whom it belongs to: a client's holder or a sub-account."""

    login_id: int
    email: str
    first_name: str
    last_name: str
    client_id: int
    contact_id: int | None


_ACCOUNT_LOGIN = """
SELECT l.id AS login_id, l.email::text AS email, a.first_name, a.last_name, a.client_id,
       a.contact_id
  FROM logins l
  JOIN LATERAL (
        SELECT c.first_name, c.last_name, c.id AS client_id, NULL::bigint AS contact_id,
               c.status
          FROM clients c WHERE c.owner_login_id = l.id
        UNION ALL
        SELECT ct.first_name, ct.last_name, ct.client_id, ct.id, c.status
          FROM contacts ct JOIN clients c ON c.id = ct.client_id WHERE ct.login_id = l.id
        LIMIT 1) a ON true"""


def _account_login(row: asyncpg.Record) -> AccountLogin:
    return AccountLogin(**{name: row[name] for name in AccountLogin.__dataclass_fields__})


async def _open_account_login(conn: asyncpg.Connection, email: str) -> AccountLogin | None:
    row = await conn.fetchrow(
        f"{_ACCOUNT_LOGIN} WHERE l.email = $1 AND a.status <> 'CLOSED'", email
    )
    return _account_login(row) if row else None


async def account_login_of(
    conn: asyncpg.Connection, *, client_id: int | None, contact_id: int | None
) -> AccountLogin:
    """The login of a client's account holder or of a sub-account contact (exactly one)."""
    if (client_id is None) == (contact_id is None):
        raise DomainError.single(
            ErrorCode.INVALID, "Give either a client or a sub-account contact.", "client_id"
        )
    if client_id is not None:
        row = await conn.fetchrow(
            """SELECT l.id AS login_id, l.email::text AS email, c.first_name, c.last_name,
                      c.id AS client_id, NULL::bigint AS contact_id
                 FROM clients c JOIN logins l ON l.id = c.owner_login_id WHERE c.id = $1""",
            client_id,
        )
        if row is None:
            raise NotFound("Client", "client_id")
        return _account_login(row)
    row = await conn.fetchrow(
        """SELECT l.id AS login_id, l.email::text AS email, ct.first_name, ct.last_name,
                  ct.client_id, ct.id AS contact_id
             FROM contacts ct JOIN logins l ON l.id = ct.login_id WHERE ct.id = $1""",
        contact_id,
    )
    if row is None:
        raise DomainError.single(
            ErrorCode.NOT_FOUND,
            "This contact has no login: it is no sub-account, or its invitation is not "
            "accepted yet (staff may give it a password with updateContact).",
            "contact_id",
        )
    return _account_login(row)


def _email_context(account: AccountLogin, client_area_url: str, **secret: str) -> dict[str, Any]:
    return {
        "user": {"first_name": account.first_name, "email": account.email},
        "client_area_url": client_area_url,
        "secret": secret,
    }


async def _queue_account_email(
    conn: asyncpg.Connection, account: AccountLogin, template: str, context: dict[str, Any]
) -> int:
    """Account mail goes to the login's own address only, never to contact copies."""
    return await queue_email(
        conn,
        template=template,
        to_address=account.email,
        to_name=f"{account.first_name} {account.last_name}",
        client_id=account.client_id,
        contact_id=account.contact_id,
        context=context,
    )


async def set_login_password(
    conn: asyncpg.Connection,
    login_id: int,
    password: str,
    *,
    keep_session_id: int | None = None,
) -> None:
    """A new password for a login; every session of it ends but `keep_session_id`."""
    await conn.execute(
        "UPDATE logins SET password_hash = $2 WHERE id = $1",
        login_id,
        await hash_password(password),
    )
    await sessions.end_sessions_of_login(conn, login_id, except_session_id=keep_session_id)


async def request_password_reset(conn: asyncpg.Connection, email: str) -> int | None:
    """Record a request for a reset link to `email` (SPEC 5.2); the id of the request, for
    the workers to answer (`answer_reset_requests`), or None for an address no login can
    have (stored addresses are ASCII, storable and short: domain.validation).

    One statement, the same whether or not the address has a login: the caller answers the
    same, in the same time, either way; nothing changes until the emailed link is followed."""
    if not (email.isascii() and storable_text(email) and len(email.strip()) <= MAX_TEXT):
        return None
    request_id: int = await conn.fetchval(
        "INSERT INTO password_reset_requests (email) VALUES ($1) RETURNING id",
        normalize_email(email),
    )
    return request_id


async def answer_reset_requests(
    conn: asyncpg.Connection,
    *,
    client_area_url: str,
    request_ids: list[int] | None = None,
    waited_seconds: float = 0.0,
) -> list[int]:
    """Answer reset requests (those of `request_ids`, else every one) that have waited
    `waited_seconds`: email a reset link to each address that has an open client-area login
    (SPEC 5.2). Each request is answered once, by whoever deletes it, and forgotten; returns
    the ids of the emails queued."""
    async with conn.transaction():
        requests = await conn.fetch(
            """DELETE FROM password_reset_requests WHERE id IN (
                   SELECT id FROM password_reset_requests
                    WHERE ($1::bigint[] IS NULL OR id = ANY($1::bigint[]))
                      AND requested_at <= now() - make_interval(secs => $2)
                    ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED)
               RETURNING email""",
            request_ids,
            waited_seconds,
        )
        email_ids = []
        for request in requests:
            account = await _open_account_login(conn, request["email"])
            if account is None:
                continue
            token = await issue_token(
                conn, account.login_id, TokenPurpose.RESET, ttl=RESET_TOKEN_TTL
            )
            context = _email_context(account, client_area_url, token=token)
            email_ids.append(
                await _queue_account_email(conn, account, "password_reset_validation", context)
            )
        return email_ids


async def confirm_password_reset(
    conn: asyncpg.Connection,
    token: str,
    new_password: str | None,
    *,
    client_area_url: str,
    keep_session_id: int | None = None,
) -> None:
    """Spend a reset token and set the login's password (SPEC 5.2).

    Under CHOOSE_PASSWORD the token sets `new_password`; under EMAIL_RANDOM a random
    password, which is emailed. Refused input leaves the token live."""
    if not well_formed(token):
        raise _INVALID_TOKEN
    check = InputCheck()
    if new_password is not None:
        check.password("new_password", new_password)
    check.raise_if_failed()
    mode = (await get_general_settings(conn)).password_reset_mode
    async with conn.transaction():
        login_id = await redeem_token(conn, token, TokenPurpose.RESET)
        if login_id is None:
            raise _INVALID_TOKEN
        # Staff choose their password whatever the mode: theirs is never sent by email.
        emails_password = mode is PasswordResetMode.EMAIL_RANDOM and not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM staff WHERE login_id = $1)", login_id
        )
        if emails_password and new_password is not None:
            raise DomainError.single(
                ErrorCode.INVALID,
                "A new password is emailed to you; leave newPassword out.",
                "new_password",
            )
        if not emails_password and new_password is None:
            raise DomainError.single(ErrorCode.REQUIRED, "Choose a new password.", "new_password")
        password = random_password() if emails_password else new_password
        assert password is not None
        await set_login_password(conn, login_id, password, keep_session_id=keep_session_id)
        if emails_password:
            row = await conn.fetchrow(f"{_ACCOUNT_LOGIN} WHERE l.id = $1", login_id)
            account = _account_login(row)
            await _queue_account_email(
                conn,
                account,
                "password_reset_confirmation",
                _email_context(account, client_area_url, password=password),
            )


async def reset_and_send_password(
    conn: asyncpg.Connection,
    *,
    client_id: int | None,
    contact_id: int | None,
    staff_id: int | None,
    client_area_url: str,
) -> None:
    """Staff "reset & send password" (SPEC 5.3): under EMAIL_RANDOM a random password is set
    and emailed (the login's sessions end); under CHOOSE_PASSWORD a reset link is emailed and
    nothing changes until it is followed."""
    mode = (await get_general_settings(conn)).password_reset_mode
    async with conn.transaction():
        account = await account_login_of(conn, client_id=client_id, contact_id=contact_id)
        if mode is PasswordResetMode.EMAIL_RANDOM:
            password = random_password()
            await set_login_password(conn, account.login_id, password)
            secret = {"password": password}
        else:
            token = await issue_token(
                conn, account.login_id, TokenPurpose.RESET, ttl=RESET_TOKEN_TTL
            )
            secret = {"token": token}
        await _queue_account_email(
            conn,
            account,
            "automated_password_reset",
            _email_context(account, client_area_url, **secret),
        )
        await audit.record(
            conn,
            staff_id=staff_id,
            action="client.password_reset_sent",
            client_id=account.client_id,
            changes=_audited_login(account, mode=mode.value),
        )


async def set_account_password(
    conn: asyncpg.Connection,
    *,
    client_id: int | None,
    contact_id: int | None,
    password: str,
    staff_id: int | None,
) -> None:
    """Staff set a specific password for a client or a sub-account (SPEC 5.3); the login's
    sessions end. The audit log records that it happened, never the password."""
    check = InputCheck()
    check.password("password", password)
    check.raise_if_failed()
    async with conn.transaction():
        account = await account_login_of(conn, client_id=client_id, contact_id=contact_id)
        await set_login_password(conn, account.login_id, password)
        await audit.record(
            conn,
            staff_id=staff_id,
            action="client.password_set",
            client_id=account.client_id,
            changes=_audited_login(account),
        )


def _audited_login(account: AccountLogin, **more: Any) -> dict[str, Any]:
    return {"login": account.email, "contact_id": account.contact_id, **more}


async def change_own_password(
    conn: asyncpg.Connection, viewer: Viewer, current_password: str, new_password: str
) -> None:
    """Any login (staff, account holder, sub-account) changes its own password, proving it
    knows the current one; its other sessions end, the one asking stays."""
    check = InputCheck()
    check.password("new_password", new_password)
    check.raise_if_failed()
    async with conn.transaction():
        stored = await conn.fetchval(
            "SELECT password_hash FROM logins WHERE id = $1 FOR UPDATE", viewer.login_id
        )
        if not await verify_password(stored, current_password):
            raise DomainError.single(
                ErrorCode.INVALID_CREDENTIALS, "The current password is wrong.", "current_password"
            )
        await set_login_password(
            conn, viewer.login_id, new_password, keep_session_id=viewer.session_id
        )
        await audit.record(
            conn,
            staff_id=viewer.staff_id,
            action="login.password_changed",
            client_id=viewer.client_id,
            changes={"login": viewer.email, "contact_id": viewer.contact_id},
        )
