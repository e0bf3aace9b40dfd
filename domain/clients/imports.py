"""Importing clients from another system's CSV export (WHMCS's column names, or ours).

All or nothing: every row is checked first, with the profile rules of adding a client (SPEC
1.1, 1.2), and one bad row imports none, its line and column named. Then the rows go in
batches, set-wise, in one transaction. An address that already has a client or a login is
left as it is, so running the same file again adds nothing. No welcome email is sent and no
password is set: imported clients choose one through a password reset.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
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
    **{name: name for name in ("default_payment_method", "credit_balance", *FLAGS)},
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
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
BATCH = 5000


@dataclass(frozen=True)
class RowError:
    """What is wrong with one cell: `line` is the file's line number (the header is line 1)."""

    line: int
    column: str | None
    message: str


@dataclass
class ImportResult:
    """What an import did, or, dry, would do."""

    imported: int = 0
    already_present: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class _Row:
    line: int
    values: dict[str, Any]


def _fields_of(header: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """The columns read (column -> field) and those ignored, of a CSV header."""
    read: dict[str, str] = {}
    ignored: list[str] = []
    for column in header:
        target = COLUMNS.get(column.strip().lower())
        if target is None or target in read.values():
            ignored.append(column)
        else:
            read[column] = "credit" if target == "credit_balance" else target
    return read, ignored


def _boolean(check: InputCheck, name: str, text: str) -> bool:
    value = text.strip().lower()
    if value not in _TRUE | _FALSE:
        check.fail(name, ErrorCode.INVALID, f"'{text}' is not a yes or no (1/0, true/false).")
    return value in _TRUE


def _clean_row(
    check: InputCheck, cells: dict[str, str], reference: ProfileReference
) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    for name, text in cells.items():
        if name in FLAGS:
            profile[name] = _boolean(check, name, text)
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


def read_rows(source: TextIO, reference: ProfileReference, result: ImportResult) -> Iterator[_Row]:
    """The file's rows, checked; each problem goes to `result.errors` naming its line and
    the column as the file spells it, and an address twice in the file is refused too."""
    reader = csv.DictReader(source)
    columns, result.ignored_columns = _fields_of(reader.fieldnames or ())
    column_of = {target: column for column, target in columns.items()}
    missing = [c for c in ("first_name", "last_name", "email") if c not in column_of]
    if missing:
        result.errors.append(RowError(1, None, f"No column for {', '.join(missing)}."))
        return
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        check = InputCheck()
        cells = {target: row.get(column) or "" for column, target in columns.items()}
        values = _clean_row(check, cells, reference)
        email = (values.get("email") or "").lower()
        if email and email in seen:
            check.fail("email", ErrorCode.CONFLICT, f"{email} is on line {seen[email]} too.")
        seen.setdefault(email, line)
        for error in check.errors:
            column = column_of.get(error.field or "")
            result.errors.append(RowError(line, column, error.message))
        if not check.errors:
            yield _Row(line, values)


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


async def import_clients(
    conn: asyncpg.Connection,
    source: TextIO,
    *,
    source_name: str,
    staff_id: int | None = None,
    dry_run: bool = False,
    on_progress: Callable[[str, int], None] = lambda stage, rows: None,
) -> ImportResult:
    """Check every row of `source`; unless one fails (or `dry_run`), add the new clients in
    one transaction. `on_progress(stage, n)` hears of each n rows "checked", then "stored"."""
    result = ImportResult()
    reference = await load_profile_reference(conn)
    rows = []
    for row in read_rows(source, reference, result):
        rows.append(row)
        if len(rows) % BATCH == 0:
            on_progress("checked", BATCH)
    on_progress("checked", len(rows) % BATCH)
    if result.errors:
        return result
    transaction = conn.transaction()
    await transaction.start()
    try:
        for start in range(0, len(rows), BATCH):
            batch = [row.values for row in rows[start : start + BATCH]]
            present = await _present_emails(conn, [values["email"] for values in batch])
            new = [values for values in batch if values["email"].lower() not in present]
            result.already_present += len(batch) - len(new)
            if new:
                names = [name for name in new[0] if name != "credit"]
                await conn.execute(_insert_sql(names), new, staff_id, source_name)
                result.imported += len(new)
            on_progress("stored", len(batch))
    except BaseException:
        await transaction.rollback()
        raise
    if dry_run:
        await transaction.rollback()
    else:
        await transaction.commit()
    return result
