"""Client use cases for staff: add, update, change status (SPEC 1.1–1.5)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import asyncpg

from domain import audit
from domain.auth import sessions
from domain.auth.password_tokens import INVITATION_TOKEN_TTL, TokenPurpose, issue_token
from domain.auth.passwords import hash_password
from domain.billing.currency import check_currency_change
from domain.billing.payment_method import apply_payment_method
from domain.clients.models import Client, ClientStatus
from domain.clients.profile import clean_profile
from domain.clients.queries import CLIENT_SELECT, client_from_row, get_client
from domain.emails.outbox import queue_client_email
from domain.emails.templates import SECRET_KEY
from domain.errors import DomainError, ErrorCode, NotFound
from domain.validation import InputCheck

_EMAIL_TAKEN = DomainError.single(
    ErrorCode.CONFLICT, "This email address is already used by another account.", "email"
)


@dataclass(frozen=True)
class ClientUpdate:
    client: Client
    warnings: list[str]


async def add_client(
    conn: asyncpg.Connection,
    values: Mapping[str, Any],
    *,
    password: str | None,
    staff_id: int | None,
    send_welcome_email: bool,
    client_area_url: str,
) -> Client:
    """Create a client with its owner login; queue the welcome email in the same transaction."""
    try:
        async with conn.transaction():
            check = InputCheck()
            cleaned = await clean_profile(conn, check, values, creating=True)
            if password:
                check.password("password", password)
            check.raise_if_failed()

            login_id = await conn.fetchval(
                "INSERT INTO logins (email, password_hash) VALUES ($1, $2) RETURNING id",
                cleaned["email"],
                await hash_password(password) if password else None,
            )
            columns = list(cleaned)
            client_id = await conn.fetchval(
                f"""INSERT INTO clients (owner_login_id, {", ".join(columns)})
                    VALUES ($1, {", ".join(f"${i}" for i in range(2, len(columns) + 2))})
                    RETURNING id""",
                login_id,
                *cleaned.values(),
            )
            client = await get_client(conn, client_id)
            assert client is not None
            await audit.record(
                conn,
                staff_id=staff_id,
                action="client.added",
                client_id=client_id,
                changes=cleaned,
            )
            if send_welcome_email:
                context = client_email_context(client, client_area_url, has_password=bool(password))
                if not password:
                    # A set-password link instead: a reset token, given the invitations' time
                    # to be found. The new client has no contacts yet, so no copy carries it.
                    token = await issue_token(
                        conn, login_id, TokenPurpose.RESET, ttl=INVITATION_TOKEN_TTL
                    )
                    context |= {
                        SECRET_KEY: {"token": token},
                        "valid_hours": INVITATION_TOKEN_TTL // timedelta(hours=1),
                    }
                await queue_client_email(conn, client.id, template="client_signup", context=context)
            return client
    except asyncpg.UniqueViolationError:
        # Two staff adding the same email at once: the second loses cleanly.
        raise _EMAIL_TAKEN from None


async def update_client(
    conn: asyncpg.Connection,
    client_id: int,
    values: Mapping[str, Any],
    *,
    password: str | None = None,
    staff_id: int | None,
    reapply_payment_method: bool = False,
) -> ClientUpdate:
    """Change the given profile fields and flags; all or nothing (SPEC 1.2).

    The email is also the account holder's login, which follows it: staff change it at once;
    the client area confirms a new one first (`domain.clients.login_email`)."""
    try:
        async with conn.transaction():
            current = await lock_client(conn, client_id)
            check = InputCheck()
            cleaned = await clean_profile(
                conn,
                check,
                values,
                creating=False,
                client_id=client_id,
                # Setting it everywhere again spreads it: only an enabled gateway is.
                kept_payment_method=None
                if reapply_payment_method
                else current.default_payment_method,
            )
            if password is not None:
                check.password("password", password)
            changes = {k: v for k, v in cleaned.items() if getattr(current, k) != v}
            if "currency" in changes:
                await check_currency_change(
                    conn, check, client_id, current.currency, changes["currency"]
                )
            check.raise_if_failed()

            method = cleaned.get("default_payment_method")
            if method and ("default_payment_method" in changes or reapply_payment_method):
                # A new default reaches everything the client pays for (SPEC 1.5); the same
                # one again (a form posting the whole profile) keeps the per-item choices.
                await apply_payment_method(conn, client_id, method)
            if changes:
                assignments = ", ".join(f"{k} = ${i}" for i, k in enumerate(changes, start=2))
                await conn.execute(
                    f"UPDATE clients SET {assignments}, updated_at = now() WHERE id = $1",
                    client_id,
                    *changes.values(),
                )
                if "email" in changes:
                    # The owner's login follows the profile email.
                    await conn.execute(
                        "UPDATE logins SET email = $2 WHERE id = $1",
                        current.owner_login_id,
                        changes["email"],
                    )
            if password is not None:
                await conn.execute(
                    "UPDATE logins SET password_hash = $2 WHERE id = $1",
                    current.owner_login_id,
                    await hash_password(password),
                )
                await sessions.end_sessions_of_login(conn, current.owner_login_id)
            audited = {k: {"from": getattr(current, k), "to": v} for k, v in changes.items()}
            if password is not None:
                audited["password"] = {"from": "***", "to": "***"}
            if audited:
                await audit.record(
                    conn,
                    staff_id=staff_id,
                    action="client.updated",
                    client_id=client_id,
                    changes=audited,
                )
            client = await get_client(conn, client_id)
            assert client is not None
            return ClientUpdate(client=client, warnings=[])
    except asyncpg.UniqueViolationError:
        raise _EMAIL_TAKEN from None


async def set_client_payment_method(
    conn: asyncpg.Connection, client_id: int, method: str, *, staff_id: int | None
) -> ClientUpdate:
    """The client-wide payment method change (SPEC 1.5): the default and that of all its
    services, addons, domains and unpaid invoices, in one transaction."""
    if not (method or "").strip():
        raise DomainError.single(
            ErrorCode.REQUIRED, "Payment method is required.", "payment_method"
        )
    try:
        # This operation exists to set the method everywhere, so it does even when the
        # default is already that method.
        return await update_client(
            conn,
            client_id,
            {"default_payment_method": method},
            staff_id=staff_id,
            reapply_payment_method=True,
        )
    except DomainError as error:
        # Reported on this operation's own argument.
        raise DomainError(
            [
                replace(e, field="payment_method") if e.field == "default_payment_method" else e
                for e in error.errors
            ]
        ) from None


async def set_client_status(
    conn: asyncpg.Connection, client_id: int, status: ClientStatus, *, staff_id: int | None
) -> Client:
    """Staff change status explicitly (SPEC 1.3); closing an account ends its sessions."""
    async with conn.transaction():
        current = await lock_client(conn, client_id)
        if current.status is not status:
            await conn.execute(
                "UPDATE clients SET status = $2, updated_at = now() WHERE id = $1",
                client_id,
                status.value,
            )
            if status is ClientStatus.CLOSED:
                # Nobody of a closed account stays logged in: owner and sub-accounts alike.
                await conn.execute(
                    """DELETE FROM sessions WHERE login_id = $1 OR login_id IN
                           (SELECT login_id FROM contacts WHERE client_id = $2)""",
                    current.owner_login_id,
                    client_id,
                )
            await audit.record(
                conn,
                staff_id=staff_id,
                action="client.status_changed",
                client_id=client_id,
                changes={"status": {"from": current.status.value, "to": status.value}},
            )
        client = await get_client(conn, client_id)
        assert client is not None
        return client


async def lock_client(conn: asyncpg.Connection, client_id: int) -> Client:
    """The client, its row locked until the transaction ends."""
    row = await conn.fetchrow(f"{CLIENT_SELECT} WHERE c.id = $1 FOR UPDATE OF c", client_id)
    if row is None:
        raise NotFound("Client")
    return client_from_row(row)


async def send_client_email(
    conn: asyncpg.Connection,
    client_id: int,
    template: str,
    *,
    staff_id: int | None,
    client_area_url: str,
) -> list[int]:
    """Staff send a client one of the client templates by hand (and its contact copies)."""
    if template not in CLIENT_TEMPLATES:
        raise DomainError.single(
            ErrorCode.INVALID,
            f"'{template}' is not a client email template; use one of "
            f"{', '.join(sorted(CLIENT_TEMPLATES))}.",
            "template",
        )
    async with conn.transaction():
        client = await get_client(conn, client_id)
        if client is None:
            raise NotFound("Client", "client_id")
        # No set-password link by hand: the contacts' copies would carry it.
        has_password = await conn.fetchval(
            "SELECT password_hash IS NOT NULL FROM logins WHERE id = $1", client.owner_login_id
        )
        queued = await queue_client_email(
            conn,
            client_id,
            template=template,
            context=client_email_context(client, client_area_url, has_password=has_password),
        )
        await audit.record(
            conn,
            staff_id=staff_id,
            action="client.email_sent",
            client_id=client_id,
            changes={"template": template},
        )
        return queued


# Templates whose context is the client alone, so staff can send them from the profile.
CLIENT_TEMPLATES = frozenset({"client_signup"})


def client_email_context(
    client: Client, client_area_url: str, *, has_password: bool
) -> dict[str, Any]:
    """What every client email template can use; `has_password`: whether the account
    holder's login has a password yet."""
    return {
        "client": {
            "first_name": client.first_name,
            "last_name": client.last_name,
            "email": client.email,
            "company_name": client.company_name,
            "has_password": has_password,
        },
        "client_area_url": client_area_url,
    }
