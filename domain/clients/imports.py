"""Importing clients from another system's CSV export (WHMCS's column names, or ours), in
the frame of domain/imports.py: every row checked with the profile rules of adding a client
(SPEC 1.1, 1.2), an address that already has a client or a login left as it is. No welcome
email is sent and no password is set: imported clients choose one through a password reset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, TextIO

import asyncpg

from domain.clients.profile import (
    FLAGS,
    ProfileReference,
    clean_profile_values,
    load_profile_reference,
)
from domain.errors import ErrorCode
from domain.imports import ImportKind, ImportResult, boolean_cell, run_import
from domain.money import MAX_AMOUNT, read_decimal
from domain.validation import InputCheck

# Each CSV column the import reads, and the client field it fills: WHMCS's client export
# names first, then ours (snake_case, as the API's fields), so either kind of file works.
COLUMNS = {
    "firstname": "first_name",
    "lastname": "last_name",
    "companyname": "company_name",
    "email": "email",
    "address1": "address1",
    "address2": "address2",
    "city": "city",
    "state": "state",
    "postcode": "postcode",
    "country": "country",
    "phonenumber": "phone_number",
    "currency": "currency",
    "language": "language",
    "notes": "notes",
    "status": "status",
    "credit": "credit",
    "defaultgateway": "default_payment_method",
    "taxexempt": "tax_exempt",
    "latefeeoveride": "late_fees_exempt",
    "overideduenotices": "overdue_notices_disabled",
    "separateinvoices": "separate_invoices",
    "disableautocc": "cc_processing_disabled",
    **{name: name for name in ("first_name", "last_name", "company_name", "phone_number")},
    **{name: name for name in ("default_payment_method", *FLAGS)},
    "credit_balance": "credit",
}
STATUSES = ("ACTIVE", "INACTIVE", "CLOSED")
# WHMCS names a client's language in English words; ours are ISO 639-1 codes.
LANGUAGE_NAMES = {
    "arabic": "ar", "czech": "cs", "danish": "da", "german": "de", "english": "en",
    "spanish": "es", "finnish": "fi", "french": "fr", "hebrew": "he", "italian": "it",
    "japanese": "ja", "norwegian": "nb", "dutch": "nl", "polish": "pl", "portuguese-pt": "pt",
    "portuguese-br": "pt", "russian": "ru", "swedish": "sv", "turkish": "tr",
    "ukranian": "uk", "ukrainian": "uk", "chinese": "zh",
}  # fmt: skip


def _clean_row(
    check: InputCheck, cells: dict[str, str], reference: ProfileReference
) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    for name, text in cells.items():
        if name in FLAGS:
            profile[name] = boolean_cell(check, name, text)
        elif name not in ("status", "credit"):
            profile[name] = text
    if "language" in profile:
        language = profile["language"].strip().lower()
        profile["language"] = LANGUAGE_NAMES.get(language, language)
    values = clean_profile_values(check, profile, creating=True, reference=reference)
    status = cells.get("status", "").strip().upper() or "ACTIVE"
    if status not in STATUSES:
        check.fail("status", ErrorCode.INVALID, f"The status must be one of {', '.join(STATUSES)}.")
    values["status"] = status
    credit = read_decimal(cells.get("credit", "").strip() or "0")
    if credit is None or credit < 0 or credit != credit.quantize(Decimal("0.01")):
        check.fail("credit", ErrorCode.INVALID, "Credit must be an amount of 0 or more.")
    elif credit > MAX_AMOUNT:
        check.fail("credit", ErrorCode.INVALID, f"Credit can be at most {MAX_AMOUNT:,}.")
    else:
        values["credit"] = str(credit)  # as JSON: PostgreSQL reads the exact decimal
    return values


_INSERT = """
WITH r AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r({columns}, credit numeric)),
     new_logins AS (INSERT INTO logins (email) SELECT email FROM r RETURNING id, email),
     new_clients AS (
         INSERT INTO clients (owner_login_id, {names}, credit_balance)
         SELECT l.id, {selected}, coalesce(r.credit, 0)
           FROM r JOIN new_logins l ON l.email = r.email::citext
         RETURNING id, credit_balance),
     credited AS (
         INSERT INTO credit_log (client_id, description, amount, staff_id)
         SELECT id, 'Balance imported', credit_balance, $2 FROM new_clients
          WHERE credit_balance > 0)
INSERT INTO audit_log (staff_id, action, client_id, changes)
SELECT $2, 'client.imported', id, jsonb_build_object('source', $3::text) FROM new_clients
"""


def _insert_sql(names: list[str]) -> str:
    types = {name: "boolean" if name in FLAGS else "text" for name in names}
    return _INSERT.format(
        columns=", ".join(f"{n} {t}" for n, t in types.items()),
        names=", ".join(names),
        selected=", ".join(f"r.{n}" for n in names),
    )


async def _present_emails(conn: asyncpg.Connection, emails: list[str]) -> set[str]:
    rows = await conn.fetch(
        """SELECT lower(email) AS email FROM logins WHERE email = ANY($1::citext[])
           UNION SELECT lower(email) FROM clients WHERE email = ANY($1::citext[])""",
        emails,
    )
    return {row["email"] for row in rows}


class ClientImport(ImportKind):
    """Clients, one a row (domain/imports.py's ImportKind)."""

    columns = COLUMNS
    required = ("first_name", "last_name", "email")

    def __init__(self, reference: ProfileReference) -> None:
        self.reference = reference

    def clean(self, check: InputCheck, cells: dict[str, str]) -> dict[str, Any]:
        return _clean_row(check, cells, self.reference)

    def key(self, values: Mapping[str, Any]) -> str:
        return str(values.get("email") or "").lower()

    async def new_rows(
        self, conn: asyncpg.Connection, batch: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        present = await _present_emails(conn, [values["email"] for values in batch])
        return [values for values in batch if values["email"].lower() not in present]

    async def store(
        self,
        conn: asyncpg.Connection,
        rows: list[dict[str, Any]],
        staff_id: int | None,
        source_name: str,
    ) -> None:
        names = [name for name in rows[0] if name != "credit"]
        await conn.execute(_insert_sql(names), rows, staff_id, source_name)


async def import_clients(conn: asyncpg.Connection, source: TextIO, **options: Any) -> ImportResult:
    """Import the clients of `source` (options as `run_import`'s)."""
    kind = ClientImport(await load_profile_reference(conn))
    return await run_import(conn, source, kind, **options)
