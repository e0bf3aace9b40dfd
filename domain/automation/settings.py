"""Automation settings (SPEC 9.2, 9.4, 10.2), one JSON document in `settings`.

How far ahead invoices are made and whether credit is applied to them stay in the general
settings (`createInvoiceDaysBefore`, `applyCreditAutomatically`), where billing reads them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import time
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from domain.errors import DomainError, ErrorCode, FieldError
from domain.money import MAX_AMOUNT

MAX_OFFSET_DAYS = 365


class LateFeeType(StrEnum):
    PERCENTAGE = "PERCENTAGE"  # of the invoice total
    FIXED = "FIXED"


@dataclass(frozen=True)
class AutomationSettings:
    # When the daily run starts, in the installation's time zone.
    run_at: time = time(9, 0)
    time_zone: str = "UTC"
    # Days before the due date for the payment reminder, and after it for the three overdue
    # notices and the late fee; 0 turns each off.
    payment_reminder_days: int = 7
    first_overdue_notice_days: int = 1
    second_overdue_notice_days: int = 3
    third_overdue_notice_days: int = 7
    late_fee_days: int = 5
    # Days before a domain expires for its first and second renewal notice (SPEC 14.2).
    domain_renewal_notice_days: int = 30
    second_domain_renewal_notice_days: int = 7
    late_fee_type: LateFeeType = LateFeeType.PERCENTAGE
    # A percentage (0–100) of the invoice total, or a fixed amount; 0 adds no fee.
    late_fee_amount: Decimal = Decimal("0.00")
    late_fee_minimum: Decimal = Decimal("0.00")
    # SPEC 9.1–9.2: set clients without active items INACTIVE (and back ACTIVE when they buy).
    change_client_status: bool = True
    inactive_after_three_months_without_login: bool = False

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> AutomationSettings:
        defaults = asdict(cls())
        merged = {name: value.get(name, default) for name, default in defaults.items()}
        return cls(
            **{
                **merged,
                "run_at": time.fromisoformat(str(merged["run_at"])),
                "late_fee_type": LateFeeType(merged["late_fee_type"]),
                "late_fee_amount": Decimal(str(merged["late_fee_amount"])),
                "late_fee_minimum": Decimal(str(merged["late_fee_minimum"])),
            }
        )

    def to_json(self) -> dict[str, Any]:
        value = asdict(self)
        value["run_at"] = self.run_at.strftime("%H:%M")
        value["late_fee_amount"] = str(self.late_fee_amount)
        value["late_fee_minimum"] = str(self.late_fee_minimum)
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


_OFFSETS = (
    "payment_reminder_days",
    "first_overdue_notice_days",
    "second_overdue_notice_days",
    "third_overdue_notice_days",
    "late_fee_days",
    "domain_renewal_notice_days",
    "second_domain_renewal_notice_days",
)


def _amount_problem(amount: Decimal) -> str | None:
    # In this order: NaN and huge values cannot be compared or rounded safely.
    if not amount.is_finite() or amount < 0:
        return "Give an amount of at least 0."
    if amount > MAX_AMOUNT:
        return "The amount is too large."
    if amount != amount.quantize(Decimal("0.01")):
        return "Give the amount in cents at most."
    return None


def _problems(value: AutomationSettings) -> list[FieldError]:
    problems = [
        FieldError(name, ErrorCode.INVALID, f"Give a number of days from 0 to {MAX_OFFSET_DAYS}.")
        for name in _OFFSETS
        if not 0 <= getattr(value, name) <= MAX_OFFSET_DAYS
    ]
    for name in ("late_fee_amount", "late_fee_minimum"):
        problem = _amount_problem(getattr(value, name))
        if problem:
            problems.append(FieldError(name, ErrorCode.INVALID, problem))
    if (
        value.late_fee_type is LateFeeType.PERCENTAGE
        and value.late_fee_amount.is_finite()
        and not Decimal(0) <= value.late_fee_amount <= Decimal(100)
    ):
        problems.append(
            FieldError("late_fee_amount", ErrorCode.INVALID, "A percentage is from 0 to 100.")
        )
    try:
        value.zone  # noqa: B018 -- only whether it exists
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            FieldError("time_zone", ErrorCode.INVALID, "Give an IANA time zone (Europe/Paris).")
        )
    return problems


async def get_automation_settings(conn: asyncpg.Connection) -> AutomationSettings:
    value = await conn.fetchval("SELECT value FROM settings WHERE key = 'automation'")
    return AutomationSettings.from_json(value or {})


SETTING_NAMES = frozenset(f.name for f in fields(AutomationSettings))


async def update_automation_settings(
    conn: asyncpg.Connection, **changes: Any
) -> AutomationSettings:
    """Change the given settings, all checked together; the others keep their value."""
    async with conn.transaction():
        # Locked, so that two staff saving different settings at once both keep theirs.
        await conn.execute(
            "INSERT INTO settings (key, value) VALUES ('automation', '{}') ON CONFLICT DO NOTHING"
        )
        current = await conn.fetchval(
            "SELECT value FROM settings WHERE key = 'automation' FOR UPDATE"
        )
        updated = replace(AutomationSettings.from_json(current or {}), **changes)
        problems = _problems(updated)
        if problems:
            raise DomainError(problems)
        await conn.execute(
            "UPDATE settings SET value = $1 WHERE key = 'automation'", updated.to_json()
        )
    return updated
