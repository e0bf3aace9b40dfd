"""General settings of the installation, stored as one JSON document per group."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

import asyncpg

from domain.emails.languages import BASE_LANGUAGE, LANGUAGES
from domain.errors import DomainError, ErrorCode
from domain.money import parse_amount
from domain.validation import MAX_TEXT, InputCheck

MAX_DAYS_BEFORE = 365
# The company's texts on invoices and emails: the setting, its label, its longest, whether it
# has lines.
COMPANY_TEXTS = (
    ("company_name", "Company name", MAX_TEXT, False),
    ("company_address", "Company address", 1000, True),
    ("logo_url", "The logo's address", 1000, False),
    ("email_signature", "The email signature", 1000, True),
)


class ClientDisplayFormat(StrEnum):
    NAME_ONLY = "NAME_ONLY"
    COMPANY_IF_SET = "COMPANY_IF_SET"
    NAME_AND_COMPANY = "NAME_AND_COMPANY"


class CommissionType(StrEnum):
    """How an affiliate's commission on a referred client's paid invoice is worked out."""

    PERCENTAGE = "PERCENTAGE"  # this percentage of the invoice's subtotal
    FIXED = "FIXED"  # this amount, in the invoice's currency, whatever it totals


class PasswordResetMode(StrEnum):
    CHOOSE_PASSWORD = "CHOOSE_PASSWORD"  # noqa: S105 -- a mode, not a password
    EMAIL_RANDOM = "EMAIL_RANDOM"


@dataclass(frozen=True)
class GeneralSettings:
    client_display_format: ClientDisplayFormat = ClientDisplayFormat.NAME_ONLY
    password_reset_mode: PasswordResetMode = PasswordResetMode.CHOOSE_PASSWORD
    # Invoice generation (SPEC 9.5): how many days ahead of their due date items are invoiced,
    # and whether available credit is applied to new invoices (SPEC 3.5).
    create_invoice_days_before: int = 14
    apply_credit_automatically: bool = True
    # SPEC 11.2: staff sessions without a second factor may only set two-factor up.
    require_staff_two_factor: bool = False
    # Who the invoices (and emails) are from: the header of every invoice PDF.
    company_name: str = ""
    company_address: str = ""
    # What every email carries (SPEC 15.3): the logo at the head of its HTML part (an https
    # address the mail reader loads), and the signature under it; the company name signs it
    # while the signature is empty.
    logo_url: str = ""
    email_signature: str = ""
    # The language of the emails of a client whose language has no email set (SPEC 15.3).
    default_language: str = BASE_LANGUAGE
    # SPEC 14.3: what an affiliate earns when a client it referred pays an invoice.
    affiliate_commission_type: CommissionType = CommissionType.PERCENTAGE
    affiliate_commission: Decimal = Decimal("10.00")

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> GeneralSettings:
        defaults = cls()
        return cls(
            client_display_format=ClientDisplayFormat(
                value.get("client_display_format", defaults.client_display_format)
            ),
            password_reset_mode=PasswordResetMode(
                value.get("password_reset_mode", defaults.password_reset_mode)
            ),
            create_invoice_days_before=int(
                value.get("create_invoice_days_before", defaults.create_invoice_days_before)
            ),
            apply_credit_automatically=bool(
                value.get("apply_credit_automatically", defaults.apply_credit_automatically)
            ),
            require_staff_two_factor=bool(
                value.get("require_staff_two_factor", defaults.require_staff_two_factor)
            ),
            company_name=str(value.get("company_name", defaults.company_name)),
            company_address=str(value.get("company_address", defaults.company_address)),
            logo_url=str(value.get("logo_url", defaults.logo_url)),
            email_signature=str(value.get("email_signature", defaults.email_signature)),
            default_language=str(value.get("default_language", defaults.default_language)),
            affiliate_commission_type=CommissionType(
                value.get("affiliate_commission_type", defaults.affiliate_commission_type)
            ),
            # Stored as its text (app/db.py), read back exact.
            affiliate_commission=Decimal(
                str(value.get("affiliate_commission", defaults.affiliate_commission))
            ),
        )


async def get_general_settings(conn: asyncpg.Connection) -> GeneralSettings:
    value = await conn.fetchval("SELECT value FROM settings WHERE key = 'general'")
    return GeneralSettings.from_json(value or {})


async def update_general_settings(conn: asyncpg.Connection, **changes: Any) -> GeneralSettings:
    """Change the given settings; the others keep their value."""
    days = changes.get("create_invoice_days_before")
    if days is not None and not 0 <= days <= MAX_DAYS_BEFORE:
        raise DomainError.single(
            ErrorCode.INVALID,
            f"Invoices are created 0 to {MAX_DAYS_BEFORE} days before they are due.",
            "create_invoice_days_before",
        )
    check = InputCheck()
    for field, label, longest, multiline in COMPANY_TEXTS:
        if field in changes:
            text = check.optional_text(field, changes[field], label, longest, multiline=multiline)
            changes[field] = text or ""
    if changes.get("logo_url") and not changes["logo_url"].startswith("https://"):
        check.fail("logo_url", ErrorCode.INVALID, "The logo's address must start with https://.")
    if "default_language" in changes and changes["default_language"] not in LANGUAGES:
        check.fail(
            "default_language",
            ErrorCode.INVALID,
            f"Emails are written in {', '.join(LANGUAGES)}; "
            f"'{changes['default_language']}' is not one of them.",
        )
    if changes.get("affiliate_commission") is not None:
        try:
            changes["affiliate_commission"] = parse_amount(
                changes["affiliate_commission"], "affiliate_commission", allow_zero=True
            )
        except DomainError as error:
            check.errors.extend(error.errors)
    check.raise_if_failed()
    async with conn.transaction():
        # Lock the row so two staff saving different settings at once both keep their change;
        # create it first, or the very first saves would find no row to lock.
        await conn.execute(
            "INSERT INTO settings (key, value) VALUES ('general', '{}') ON CONFLICT DO NOTHING"
        )
        current = await conn.fetchval("SELECT value FROM settings WHERE key = 'general' FOR UPDATE")
        updated = replace(GeneralSettings.from_json(current or {}), **changes)
        if (
            updated.affiliate_commission_type is CommissionType.PERCENTAGE
            and updated.affiliate_commission > 100
        ):
            raise DomainError.single(
                ErrorCode.INVALID,
                "A percentage commission is at most 100.",
                "affiliate_commission",
            )
        await conn.execute(
            """INSERT INTO settings (key, value) VALUES ('general', $1)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
            asdict(updated),
        )
    return updated
