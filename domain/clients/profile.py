"""Validating a client's profile input (SPEC 1.1, 1.2, 1.5): one error per field, all at once.

Input arrives as a mapping of field name to value holding only the fields the caller gave;
adding a client and updating one share these checks, the first requiring what the second
lets be omitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from domain.errors import ErrorCode
from domain.people import PERSON_FIELDS, clean_person
from domain.validation import MAX_NOTES, InputCheck, storable_text

# Client-area languages, ISO 639-1.
LANGUAGES = frozenset("ar cs da de en es fi fr he it ja nb nl pl pt ru sv tr uk zh".split())

FLAGS = (
    "overdue_notices_disabled",
    "late_fees_exempt",
    "tax_exempt",
    "separate_invoices",
    "cc_processing_disabled",
)
PROFILE_FIELDS = PERSON_FIELDS | {*FLAGS, "language", "currency", "notes", "default_payment_method"}


async def clean_profile(
    conn: asyncpg.Connection,
    check: InputCheck,
    values: Mapping[str, Any],
    *,
    creating: bool,
    client_id: int | None = None,
) -> dict[str, Any]:
    """Return the given fields normalised for storage, noting each problem in `check`.

    `client_id` is the client being updated, so that keeping its own email is no conflict.
    """
    unknown = set(values) - PROFILE_FIELDS
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    cleaned = clean_person(check, values, creating=creating)
    if "notes" in values:
        cleaned["notes"] = check.optional_text(
            "notes", values["notes"], "Notes", MAX_NOTES, multiline=True
        )
    for flag in FLAGS:
        if flag in values:
            if values[flag] is None:
                check.fail(flag, ErrorCode.INVALID, "Must be true or false.")
            cleaned[flag] = bool(values[flag])

    if "language" in values:
        language = (values["language"] or "").strip().lower() or None
        if language is not None and language not in LANGUAGES:
            check.fail(
                "language",
                ErrorCode.INVALID,
                f"'{values['language']}' is not a supported "
                f"language; use one of {', '.join(sorted(LANGUAGES))}.",
            )
        cleaned["language"] = language

    if creating or "currency" in values:
        code = (values.get("currency") or "").strip().upper()
        if not storable_text(code):
            check.fail("currency", ErrorCode.INVALID, "Not a currency code.")
        elif code:
            if not await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM currencies WHERE code = $1)", code
            ):
                check.fail(
                    "currency",
                    ErrorCode.INVALID,
                    f"'{code}' is not a currency of this installation.",
                )
        elif not creating:
            check.fail("currency", ErrorCode.REQUIRED, "Currency is required.")
        else:
            code = await conn.fetchval("SELECT code FROM currencies WHERE is_default")
        cleaned["currency"] = code

    if "default_payment_method" in values:
        method = (values["default_payment_method"] or "").strip() or None
        if method is not None and not storable_text(method):
            check.fail("default_payment_method", ErrorCode.INVALID, "Not a payment gateway name.")
        elif method is not None and not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM payment_gateways WHERE name = $1 AND enabled)", method
        ):
            check.fail(
                "default_payment_method",
                ErrorCode.INVALID,
                f"'{method}' is not an enabled payment gateway.",
            )
        cleaned["default_payment_method"] = method

    email = cleaned.get("email")
    if email and await email_taken(conn, email, client_id):
        check.fail("email", ErrorCode.CONFLICT, f"{email} is already used by another account.")
    return cleaned


async def email_taken(conn: asyncpg.Connection, email: str, client_id: int | None) -> bool:
    """Emails are unique among clients and among logins (a staff member's, say)."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (
                   SELECT 1 FROM logins l
                    WHERE l.email = $1
                      AND l.id IS DISTINCT FROM
                          (SELECT owner_login_id FROM clients WHERE id = $2))
                   OR EXISTS (SELECT 1 FROM clients WHERE email = $1 AND id IS DISTINCT FROM $2)""",
            email,
            client_id,
        )
    )
