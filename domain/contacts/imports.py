"""Importing contacts from another system's CSV export (WHMCS's contact column names, or
ours), in the frame of domain/imports.py. Each row names its client by the client's email
address (`client_email`: import the clients first). Every row is checked with the rules of
adding a contact; a contact the client already has at that address is left as it is.

Imported contacts get no login and no invitation email: a sub-account's permissions come
over, and it reaches the client area once staff give it access, which invites it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

import asyncpg

from domain.auth.permissions import ContactPermission
from domain.contacts.models import PREFERENCE_CATEGORIES
from domain.errors import ErrorCode
from domain.imports import ImportKind, ImportResult, Row, boolean_cell, run_import
from domain.people import OPTIONAL_TEXT, REQUIRED_TEXT, clean_person
from domain.validation import InputCheck

# WHMCS's contact export names its email-preference flags like this; ours is a list.
PREFERENCE_COLUMNS = {f"{c.value.lower()}emails": c.value for c in PREFERENCE_CATEGORIES}
PERSON_COLUMNS = {
    **{name.replace("_", ""): name for name in (*REQUIRED_TEXT, *OPTIONAL_TEXT)},
    **{name: name for name in (*REQUIRED_TEXT, *OPTIONAL_TEXT)},
    "email": "email",
    "country": "country",
    "phonenumber": "phone_number",
    "phone_number": "phone_number",
}
COLUMNS = {
    "clientemail": "client_email",
    "client_email": "client_email",
    "permissions": "permissions",
    **PERSON_COLUMNS,
    **PREFERENCE_COLUMNS,
    **{f"{c.value.lower()}_emails": c.value for c in PREFERENCE_CATEGORIES},
}
# WHMCS spells permissions in one word ("manageproducts"); we also take ours.
PERMISSIONS = {p.value.replace("_", "").lower(): p.value for p in ContactPermission}


def _permissions(check: InputCheck, text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [n for n in names if n.replace("_", "").lower() not in PERMISSIONS]
    if unknown:
        check.fail("permissions", ErrorCode.INVALID, f"Unknown permission: {', '.join(unknown)}.")
    known = {PERMISSIONS[n.replace("_", "").lower()] for n in names if n not in unknown}
    return sorted(known)


class ContactImport(ImportKind):
    """Contacts, one a row (domain/imports.py's ImportKind)."""

    columns = COLUMNS
    required = ("client_email", "first_name", "last_name", "email")

    def clean(self, check: InputCheck, cells: dict[str, str]) -> dict[str, Any]:
        person = {name: text for name, text in cells.items() if name in PERSON_COLUMNS.values()}
        values = clean_person(check, person, creating=True)
        values["client_email"] = check.email("client_email", cells.get("client_email"))
        values["permissions"] = _permissions(check, cells.get("permissions", ""))
        values["email_preferences"] = [
            name
            for name in PREFERENCE_COLUMNS.values()
            if boolean_cell(check, name, cells.get(name, ""))
        ]
        return values

    def key(self, values: Mapping[str, Any]) -> str:
        return f"{values.get('client_email') or ''} {values.get('email') or ''}".lower()

    async def check_against_database(
        self, conn: asyncpg.Connection, rows: Sequence[Row], fail: Callable[[Row, str, str], None]
    ) -> None:
        """Each row's client, found by its address; a row naming none is refused."""
        found = await conn.fetch(
            "SELECT lower(email) AS email, min(id) AS id FROM clients "
            "WHERE email = ANY($1::citext[]) GROUP BY lower(email)",
            list({row.values["client_email"] for row in rows}),
        )
        client_of = {r["email"]: r["id"] for r in found}
        for row in rows:
            client_id = client_of.get(row.values["client_email"].lower())
            if client_id is None:
                fail(
                    row, "client_email", f"No client has the address {row.values['client_email']}."
                )
            row.values["client_id"] = client_id

    async def new_rows(
        self, conn: asyncpg.Connection, batch: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        present = await conn.fetch(
            """SELECT c.client_id, lower(c.email) AS email FROM contacts c
                 JOIN unnest($1::bigint[], $2::citext[]) AS r(client_id, email)
                   ON r.client_id = c.client_id AND r.email = c.email""",
            [values["client_id"] for values in batch],
            [values["email"] for values in batch],
        )
        there = {(r["client_id"], r["email"]) for r in present}
        return [v for v in batch if (v["client_id"], v["email"].lower()) not in there]

    async def store(
        self,
        conn: asyncpg.Connection,
        rows: list[dict[str, Any]],
        staff_id: int | None,
        source_name: str,
    ) -> None:
        await conn.execute(_INSERT, rows, staff_id, source_name)


_TEXT = ", ".join((*REQUIRED_TEXT, *OPTIONAL_TEXT, "email", "phone_number", "country"))
_INSERT = f"""
WITH r AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(
               client_id bigint, {", ".join(f"{n} text" for n in _TEXT.split(", "))},
               permissions text[], email_preferences text[])),
     new_contacts AS (
         INSERT INTO contacts (client_id, {_TEXT}, permissions, email_preferences)
         SELECT client_id, {_TEXT}, permissions, email_preferences FROM r
         RETURNING id, client_id)
INSERT INTO audit_log (staff_id, action, client_id, changes)
SELECT $2, 'contact.imported', client_id,
       jsonb_build_object('source', $3::text, 'contact_id', id)
  FROM new_contacts
"""


async def import_contacts(conn: asyncpg.Connection, source: TextIO, **options: Any) -> ImportResult:
    """Import the contacts of `source` (options as `run_import`'s)."""
    return await run_import(conn, source, ContactImport(), **options)
