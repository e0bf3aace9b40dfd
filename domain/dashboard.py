"""The staff dashboard's figures (SPEC 12.3), read from the counters migration 0030 keeps
exact in the transaction of every change: a few index rows each, at any number of clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

import asyncpg

from domain.automation import runs
from domain.automation.settings import AutomationSettings
from domain.clients.models import ClientStatus
from domain.errors import DomainError, ErrorCode

# The most periods one income query answers (about ten years of months or days).
MAX_PERIODS = 3700


class Interval(StrEnum):
    DAY = "DAY"
    MONTH = "MONTH"


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    amount: Decimal


@dataclass(frozen=True)
class InvoiceFigures:
    count: int
    totals: list[CurrencyTotal]


@dataclass(frozen=True)
class IncomePeriod:
    start: date
    totals: list[CurrencyTotal]


class Figure(StrEnum):
    """The plain counts the counters keep (dashboard_counts.figure)."""

    OPEN_TICKETS = "tickets.open"
    # Tickets awaiting a staff reply.
    AWAITING_REPLY = "tickets.awaiting_reply"
    # Emails not sent yet, still being tried; and those that failed for good.
    QUEUED_EMAILS = "emails.queued"
    FAILED_EMAILS = "emails.failed"


async def count(conn: asyncpg.Connection, figure: Figure) -> int:
    """One figure: its counter rows summed."""
    value = await conn.fetchval(
        "SELECT COALESCE(sum(count), 0) FROM dashboard_counts WHERE figure = $1", figure.value
    )
    return int(value)


async def clients_by_status(conn: asyncpg.Connection) -> dict[ClientStatus, int]:
    rows = await conn.fetch(
        """SELECT substr(figure, 9) AS status, sum(count) AS count FROM dashboard_counts
            WHERE figure LIKE 'clients.%' GROUP BY figure"""
    )
    counted = {row["status"]: int(row["count"]) for row in rows}
    return {status: counted.get(status.value, 0) for status in ClientStatus}


async def unpaid_invoices(conn: asyncpg.Connection, *, due_before: date | None) -> InvoiceFigures:
    """Unpaid invoices (those due before `due_before`: overdue) and their balances."""
    rows = await conn.fetch(
        """SELECT currency, sum(count) AS count, sum(amount) AS amount FROM dashboard_unpaid
            WHERE $1::date IS NULL OR due_date < $1 GROUP BY currency
           HAVING sum(count) <> 0 ORDER BY currency""",
        due_before,
    )
    return InvoiceFigures(
        count=sum(int(row["count"]) for row in rows),
        totals=[CurrencyTotal(row["currency"], row["amount"]) for row in rows],
    )


async def income(
    conn: asyncpg.Connection, start: date, end: date, interval: Interval
) -> list[IncomePeriod]:
    """Payments received less refunds (negative transactions, migration 0039) per period
    from `start` to `end` (both included), per currency;
    every period is listed, with no totals when nothing came in."""
    if end < start:
        raise DomainError.single(ErrorCode.INVALID, "The range ends before it starts.", "to")
    unit = "day" if interval is Interval.DAY else "month"
    first = start if interval is Interval.DAY else start.replace(day=1)
    periods = (
        (end - start).days + 1
        if interval is Interval.DAY
        else (end.year - start.year) * 12 + end.month - start.month + 1
    )
    if periods > MAX_PERIODS:
        raise DomainError.single(
            ErrorCode.INVALID, f"Ask for at most {MAX_PERIODS} periods at once.", "to"
        )
    rows = await conn.fetch(
        f"""SELECT date_trunc('{unit}', day)::date AS start, currency, sum(amount) AS amount
              FROM dashboard_income WHERE day BETWEEN $1 AND $2
             GROUP BY 1, 2 HAVING sum(amount) <> 0 ORDER BY 1, 2""",
        start,
        end,
    )
    totals: dict[date, list[CurrencyTotal]] = {}
    for row in rows:
        totals.setdefault(row["start"], []).append(CurrencyTotal(row["currency"], row["amount"]))
    starts = [first + timedelta(days=n) for n in range(periods)] if unit == "day" else []
    if unit == "month":
        year, month = first.year, first.month
        for _ in range(periods):
            starts.append(date(year, month, 1))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return [IncomePeriod(day, totals.get(day, [])) for day in starts]


def today(settings: AutomationSettings) -> date:
    """Today in the installation's time zone: what "overdue" and the daily run count from."""
    return datetime.now(settings.zone).date()


async def next_run_at(conn: asyncpg.Connection, settings: AutomationSettings) -> datetime:
    """When the daily run next starts: today's time of day unless today's run is finished
    (then tomorrow's). Past the time, unfinished, it is due now: its time is in the past."""
    now = datetime.now(settings.zone)
    run = await runs.get_run(conn, now.date())
    day = now.date()
    if run is not None and run.finished_at is not None:
        day += timedelta(days=1)
    return datetime.combine(day, settings.run_at, tzinfo=settings.zone)
