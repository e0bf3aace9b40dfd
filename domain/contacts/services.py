"""Contact use cases (SPEC 2.1, 2.2, 2.4, 2.5), for staff and for the client area.

`client_scope` is the client a client-area caller acts for: a contact outside it is not
found. `may_grant_access` is false for sub-accounts: only the main account holder (or staff)
makes sub-accounts and grants permissions.

A sub-account gets its login in one of two ways. Staff may give it a password directly, and
are told when another login holds its address. Otherwise it is invited
(`domain.contacts.invitations`): from the client area (`client_area`) always, since the
account holder must not claim an address it does not control, nor learn whether another
account uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import asyncpg

from domain import audit
from domain.auth import sessions
from domain.auth.passwords import hash_password
from domain.auth.permissions import ContactPermission
from domain.contacts import invitations, logins
from domain.contacts.models import (
    CONTACT_COLUMNS,
    PREFERENCE_CATEGORIES,
    Contact,
    contact_from_row,
)
from domain.emails.templates import EmailCategory
from domain.errors import DomainError, ErrorCode, NotFound
from domain.nested import first_of_each, grouped
from domain.people import PERSON_FIELDS, clean_person
from domain.validation import InputCheck, normalize_email

ACCESS_FIELDS = ("sub_account", "password", "permissions")
_ONLY_THE_HOLDER = "Only the main account holder manages sub-accounts and their permissions."
_INVITATIONS_SET_PASSWORDS = (
    "Leave the password out: a sub-account's user chooses it, from the invitation emailed to "
    "its address when it becomes a sub-account."
)
CONTACT_FIELDS = PERSON_FIELDS | {"email_preferences", *ACCESS_FIELDS}


async def get_contact(conn: asyncpg.Connection, contact_id: int) -> Contact | None:
    row = await conn.fetchrow(f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1", contact_id)
    return contact_from_row(row) if row else None


async def contacts_by_client(
    conn: asyncpg.Connection, client_ids: Sequence[int], *, per_client: int | None = None
) -> dict[int, list[Contact]]:
    """Each client's contacts, oldest first; at most `per_client` each."""
    rows = await conn.fetch(
        first_of_each(
            f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE client_id = {{parent}} ORDER BY id"
        ),
        list(client_ids),
        per_client,
    )
    return grouped(rows, client_ids, contact_from_row)


async def contacts_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, Contact]:
    rows = await conn.fetch(
        f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = ANY($1::bigint[])", list(ids)
    )
    return {row["id"]: contact_from_row(row) for row in rows}


async def add_contact(
    conn: asyncpg.Connection,
    client_id: int,
    values: Mapping[str, Any],
    *,
    staff_id: int | None,
    may_grant_access: bool,
    client_area: bool = False,
    client_area_url: str | None = None,
) -> Contact:
    """Add a contact; a sub-account given a password (staff only) gets its login now, one
    without is invited, through links under `client_area_url`."""
    _check_known_fields(values)
    async with conn.transaction():
        if not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM clients WHERE id = $1 FOR UPDATE)", client_id
        ):
            raise NotFound("Client", "client_id")
        check = InputCheck()
        cleaned = clean_person(check, values, creating=True)
        preferences = _apply_preferences(check, values.get("email_preferences") or {}, frozenset())
        sub_account = bool(values.get("sub_account"))
        password: str = values.get("password") or ""
        _check_access_change(check, values, may_grant_access, client_area)
        if password:
            check.password("password", password)
        if (
            sub_account
            and not client_area
            and cleaned["email"]
            and await logins.login_email_taken(conn, cleaned["email"])
        ):
            logins.email_conflict(check, cleaned["email"])
        check.raise_if_failed()

        has_login = sub_account and bool(password)
        login_id = (
            await logins.create_login(conn, cleaned["email"], password) if has_login else None
        )
        columns = [*cleaned, "email_preferences", "permissions"]
        params = [
            *cleaned.values(),
            preferences,
            _clean_permissions(values.get("permissions") or ()),
        ]
        contact_id = await conn.fetchval(
            f"""INSERT INTO contacts (client_id, login_id, {", ".join(columns)})
                VALUES ($1, $2, {", ".join(f"${i}" for i in range(3, len(columns) + 3))})
                RETURNING id""",
            client_id,
            login_id,
            *params,
        )
        if sub_account and not has_login:
            await invitations.invite(conn, contact_id, client_area_url=_url(client_area_url))
        contact = await get_contact(conn, contact_id)
        assert contact is not None
        audited = _audited(cleaned, values)
        if contact.invitation_pending:
            audited["invited"] = contact.email
        await _audit(conn, staff_id, "contact.added", contact, audited)
        return contact


async def update_contact(
    conn: asyncpg.Connection,
    contact_id: int,
    values: Mapping[str, Any],
    *,
    staff_id: int | None,
    may_grant_access: bool,
    client_scope: int | None = None,
    client_area: bool = False,
    client_area_url: str | None = None,
) -> Contact:
    """Change a contact; omitted fields stay.

    A sub-account's login follows: turned off, the login (or the invitation) goes; given a
    password (staff only), it gets a login now. Without one, a contact becoming a sub-account
    is invited, and an invited one is invited again (a new link voids the old) when it is
    turned on again or its address changes. From the client area a new address for a
    sub-account with a login is a new login: the old one goes and the new address is
    invited; staff move the login to the new address instead."""
    _check_known_fields(values)
    async with conn.transaction():
        current = await _lock_contact(conn, contact_id, client_scope)
        check = InputCheck()
        cleaned = clean_person(check, values, creating=False)
        if "email_preferences" in values:
            cleaned["email_preferences"] = _apply_preferences(
                check, values["email_preferences"] or {}, current.email_preferences
            )
        if values.get("permissions") is not None:
            cleaned["permissions"] = _clean_permissions(values["permissions"])
        _check_access_change(check, values, may_grant_access, client_area)
        new_email: str | None = cleaned.get("email")
        moves = bool(new_email) and normalize_email(new_email or "") != normalize_email(
            current.email
        )
        if not may_grant_access and current.sub_account and moves:
            # The email is the sub-account's login: whoever owns the new address could take it.
            check.fail("email", ErrorCode.FORBIDDEN, _ONLY_THE_HOLDER)
        password: str = values.get("password") or ""
        if password:
            check.password("password", password)
        sub_account = (
            current.sub_account
            if values.get("sub_account") is None
            else bool(values["sub_account"])
        )
        email = new_email or current.email
        step = logins.login_step(
            current,
            sub_account,
            password=bool(password),
            moves=moves,
            client_area=client_area,
            asked=values.get("sub_account") is not None,
        )
        if (
            sub_account
            and (step is not logins.LoginStep.KEEP or moves)
            and not client_area
            and await logins.login_email_taken(conn, email, except_login_id=current.login_id)
        ):
            logins.email_conflict(check, email)
        check.raise_if_failed()

        login_id = current.login_id
        if current.invitation_pending and step is not logins.LoginStep.KEEP:
            await invitations.withdraw(conn, contact_id)
        if step in (logins.LoginStep.REMOVE, logins.LoginStep.REPLACE_BY_INVITATION) and login_id:
            await conn.execute("DELETE FROM logins WHERE id = $1", login_id)  # ends its sessions
            login_id = None
        elif step is logins.LoginStep.CREATE:
            login_id = await logins.create_login(conn, email, password)
        elif login_id is not None:
            try:
                await conn.execute("UPDATE logins SET email = $2 WHERE id = $1", login_id, email)
            except asyncpg.UniqueViolationError:
                raise logins.email_taken(email) from None  # taken since it was checked
            if password:
                await conn.execute(
                    "UPDATE logins SET password_hash = $2 WHERE id = $1",
                    login_id,
                    await hash_password(password),
                )
                await sessions.end_sessions_of_login(conn, login_id)
        changes = {k: v for k, v in cleaned.items() if _stored(getattr(current, k)) != v}
        if login_id != current.login_id:
            changes["login_id"] = login_id
        if changes:
            assignments = ", ".join(f"{k} = ${i}" for i, k in enumerate(changes, start=2))
            await conn.execute(
                f"UPDATE contacts SET {assignments}, updated_at = now() WHERE id = $1",
                contact_id,
                *changes.values(),
            )
        audited = _audited(changes, values)
        if step in (logins.LoginStep.INVITE, logins.LoginStep.REPLACE_BY_INVITATION):
            await invitations.invite(conn, contact_id, client_area_url=_url(client_area_url))
            audited["invited"] = email
        contact = await get_contact(conn, contact_id)
        assert contact is not None
        if audited:
            await _audit(conn, staff_id, "contact.updated", contact, audited)
        return contact


async def delete_contact(
    conn: asyncpg.Connection,
    contact_id: int,
    *,
    staff_id: int | None,
    client_scope: int | None = None,
    may_grant_access: bool = True,
) -> None:
    """Remove a contact and its login, or its invitation (whose link stops working); it stops
    being the billing contact (SPEC 2.5).

    Without `may_grant_access` (a sub-account acting) a sub-account cannot be removed."""
    async with conn.transaction():
        contact = await _lock_contact(conn, contact_id, client_scope)
        if not may_grant_access and contact.sub_account:
            raise DomainError.single(ErrorCode.FORBIDDEN, _ONLY_THE_HOLDER, "id")
        await conn.execute("DELETE FROM contacts WHERE id = $1", contact_id)
        if contact.login_id is not None:
            await conn.execute("DELETE FROM logins WHERE id = $1", contact.login_id)
        await _audit(conn, staff_id, "contact.deleted", contact, {"email": contact.email})


async def set_billing_contact(
    conn: asyncpg.Connection, client_id: int, contact_id: int | None, *, staff_id: int | None
) -> None:
    """Address the client's invoices to one of its contacts, or to the client again (None)."""
    async with conn.transaction():
        if contact_id is not None and not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM contacts WHERE id = $1 AND client_id = $2)",
            contact_id,
            client_id,
        ):
            raise NotFound("Contact of this client", "contact_id")
        updated = await conn.fetchval(
            "UPDATE clients SET billing_contact_id = $2, updated_at = now() WHERE id = $1 "
            "RETURNING id",
            client_id,
            contact_id,
        )
        if updated is None:
            raise NotFound("Client", "client_id")
        await audit.record(
            conn,
            staff_id=staff_id,
            action="client.billing_contact_set",
            client_id=client_id,
            changes={"billing_contact_id": contact_id},
        )


def _stored(value: Any) -> Any:
    """A contact attribute as its column holds it (sets of enums are sorted text arrays)."""
    if isinstance(value, frozenset):
        return sorted(v.value for v in value)
    return value


def _check_known_fields(values: Mapping[str, Any]) -> None:
    unknown = set(values) - CONTACT_FIELDS
    if unknown:
        raise ValueError(f"not contact fields: {sorted(unknown)}")


def _check_access_change(
    check: InputCheck, values: Mapping[str, Any], may_grant_access: bool, client_area: bool
) -> None:
    for field in ACCESS_FIELDS:
        if values.get(field) is None:
            continue
        if not may_grant_access:
            check.fail(field, ErrorCode.FORBIDDEN, _ONLY_THE_HOLDER)
        elif field == "password" and client_area:
            check.fail(field, ErrorCode.FORBIDDEN, _INVITATIONS_SET_PASSWORDS)


def _url(client_area_url: str | None) -> str:
    if client_area_url is None:
        raise ValueError("an invitation links to the client area: give client_area_url")
    return client_area_url


def _apply_preferences(
    check: InputCheck, changes: Mapping[str, bool | None], current: frozenset[EmailCategory]
) -> list[str]:
    """The ticked categories after `changes` (category → ticked; None keeps it)."""
    chosen = set(current)
    for category, ticked in changes.items():
        if category not in PREFERENCE_CATEGORIES:
            check.fail("email_preferences", ErrorCode.INVALID, f"'{category}' is not a category.")
        elif ticked:
            chosen.add(EmailCategory(category))
        elif ticked is not None:
            chosen.discard(EmailCategory(category))
    return sorted(c.value for c in chosen)


def _clean_permissions(permissions: Iterable[Any]) -> list[str]:
    return sorted({ContactPermission(p).value for p in permissions})


async def _lock_contact(
    conn: asyncpg.Connection, contact_id: int, client_scope: int | None
) -> Contact:
    row = await conn.fetchrow(
        f"SELECT {CONTACT_COLUMNS} FROM contacts "
        "WHERE id = $1 AND ($2::bigint IS NULL OR client_id = $2) FOR UPDATE",
        contact_id,
        client_scope,
    )
    if row is None:
        raise NotFound("Contact")
    return contact_from_row(row)


def _audited(changes: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    audited = dict(changes)
    if values.get("password"):
        audited["password"] = "***"  # noqa: S105 -- that it changed, never what to
    if values.get("sub_account") is not None:
        audited["sub_account"] = bool(values["sub_account"])
    return audited


async def _audit(
    conn: asyncpg.Connection,
    staff_id: int | None,
    action: str,
    contact: Contact,
    changes: dict[str, Any],
) -> None:
    await audit.record(
        conn,
        staff_id=staff_id,
        action=action,
        client_id=contact.client_id,
        changes={"contact_id": contact.id, **changes},
    )
