"""Validating a client's profile input (SPEC 1.1, 1.2, 1.5): one error per field, all at once.

Input arrives as a mapping of field name to value holding only the fields the caller gave;
adding a client and updating one share these checks, the first requiring what the second
lets be omitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ProfileReference:
    """What profile checks compare against: read once, for one client or a whole import."""

    currencies: frozenset[str]
    default_currency: str | None
    enabled_gateways: frozenset[str]


async def load_profile_reference(conn: asyncpg.Connection) -> ProfileReference:
    row = await conn.fetchrow(
        """SELECT (SELECT array_agg(code) FROM currencies) AS currencies,
                  (SELECT code FROM currencies WHERE is_default) AS default_currency,
                  (SELECT array_agg(name) FROM payment_gateways WHERE enabled) AS gateways"""
    )
    return ProfileReference(
        currencies=frozenset(row["currencies"] or ()),
        default_currency=row["default_currency"],
        enabled_gateways=frozenset(row["gateways"] or ()),
    )


async def clean_profile(
    conn: asyncpg.Connection,
    check: InputCheck,
    values: Mapping[str, Any],
    *,
    creating: bool,
    client_id: int | None = None,
    kept_payment_method: str | None = None,
) -> dict[str, Any]:
    """Return the given fields normalised for storage, noting each problem in `check`.

    `client_id` is the client being updated, so that keeping its own email is no conflict;
    `kept_payment_method` its default, which it may keep though the gateway is now off.
    """
    reference = await load_profile_reference(conn)
    cleaned = clean_profile_values(
        check,
        values,
        creating=creating,
        reference=reference,
        kept_payment_method=kept_payment_method,
    )
    email = cleaned.get("email")
    if email and await email_taken(conn, email, client_id):
        check.fail("email", ErrorCode.CONFLICT, f"{email} is already used by another account.")
    return cleaned


def clean_profile_values(
    check: InputCheck,
    values: Mapping[str, Any],
    *,
    creating: bool,
    reference: ProfileReference,
    kept_payment_method: str | None = None,
) -> dict[str, Any]:
    """`clean_profile` without the database: whether the email is free is the caller's."""
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
            if code not in reference.currencies:
                check.fail(
                    "currency",
                    ErrorCode.INVALID,
                    f"'{code}' is not a currency of this installation.",
                )
        elif not creating:
            check.fail("currency", ErrorCode.REQUIRED, "Currency is required.")
        else:
            code = reference.default_currency
        cleaned["currency"] = code

    if "default_payment_method" in values:
        method = (values["default_payment_method"] or "").strip() or None
        if method is not None and not storable_text(method):
            check.fail("default_payment_method", ErrorCode.INVALID, "Not a payment gateway name.")
        elif (
            method is not None
            and method != kept_payment_method
            and method not in reference.enabled_gateways
        ):
            # A gateway turned off moves nobody (SPEC 13.1): a form posting the whole
            # profile keeps the default it has; only newly choosing an off gateway is refused.
            check.fail(
                "default_payment_method",
                ErrorCode.INVALID,
                f"'{method}' is not an enabled payment gateway.",
            )
        cleaned["default_payment_method"] = method
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
