"""General settings of the installation, stored as one JSON document per group."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

import asyncpg

from domain.errors import DomainError, ErrorCode

MAX_DAYS_BEFORE = 365


class ClientDisplayFormat(StrEnum):
    NAME_ONLY = "NAME_ONLY"
    COMPANY_IF_SET = "COMPANY_IF_SET"
    NAME_AND_COMPANY = "NAME_AND_COMPANY"


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
    async with conn.transaction():
        # Lock the row so two staff saving different settings at once both keep their change;
        # create it first, or the very first saves would find no row to lock.
        await conn.execute(
            "INSERT INTO settings (key, value) VALUES ('general', '{}') ON CONFLICT DO NOTHING"
        )
        current = await conn.fetchval("SELECT value FROM settings WHERE key = 'general' FOR UPDATE")
        updated = replace(GeneralSettings.from_json(current or {}), **changes)
        await conn.execute(
            """INSERT INTO settings (key, value) VALUES ('general', $1)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
            asdict(updated),
        )
    return updated
