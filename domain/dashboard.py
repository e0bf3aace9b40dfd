"""The staff dashboard's figures (SPEC 12.3), read from the counters migration 0030 keeps
exact in the transaction of every change: a few index rows each, at any number of clients."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import asyncpg

from domain.automation import runs
from domain.automation.runs import AutomationRun
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
    """The figures one statement reads (`read`); the plain counts are dashboard_counts'."""

    CLIENTS_BY_STATUS = "clients"
    UNPAID = "unpaid"
    # Unpaid and due before today.
    OVERDUE = "overdue"
    OPEN_TICKETS = "tickets.open"
    # Tickets awaiting a staff reply.
    AWAITING_REPLY = "tickets.awaiting_reply"
    # Emails not sent yet, still being tried; and those that failed for good.
    QUEUED_EMAILS = "emails.queued"
    FAILED_EMAILS = "emails.failed"
    LAST_RUN = "last_run"
    NEXT_RUN = "next_run"


COUNTS = frozenset(
    {Figure.OPEN_TICKETS, Figure.AWAITING_REPLY, Figure.QUEUED_EMAILS, Figure.FAILED_EMAILS}
)


@dataclass(frozen=True)
class IncomeRange:
    """Income (payments received less refunds: negative transactions, migration 0039) per
    `interval` from `start` to `end`; made by `income_range`, which checks it."""

    start: date
    end: date
    interval: Interval

    @property
    def starts(self) -> list[date]:
        """Every period's first day."""
        if self.interval is Interval.DAY:
            return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]
        year, month, starts = self.start.year, self.start.month, []
        while (year, month) <= (self.end.year, self.end.month):
            starts.append(date(year, month, 1))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return starts


def income_range(start: date, end: date, interval: Interval) -> IncomeRange:
    if end < start:
        raise DomainError.single(ErrorCode.INVALID, "The range ends before it starts.", "to")
    periods = (
        (end - start).days + 1
        if interval is Interval.DAY
        else (end.year - start.year) * 12 + end.month - start.month + 1
    )
    if periods > MAX_PERIODS:
        raise DomainError.single(
            ErrorCode.INVALID, f"Ask for at most {MAX_PERIODS} periods at once.", "to"
        )
    return IncomeRange(start, end, interval)


Part = Figure | IncomeRange


@dataclass
class Figures:
    """What `read` found: the figures asked for (the others stay empty)."""

    clients_by_status: dict[ClientStatus, int] = field(default_factory=dict)
    invoices: dict[Figure, InvoiceFigures] = field(default_factory=dict)
    counts: dict[Figure, int] = field(default_factory=dict)
    income: dict[IncomeRange, list[IncomePeriod]] = field(default_factory=dict)
    last_run: AutomationRun | None = None
    next_run_at: datetime | None = None


# Each part's SQL: a derived table of exactly one row (or none, for a run), left-joined to
# the statement's one row; `{p}` is replaced with the part's parameter numbers.
_PER_CURRENCY = """(SELECT array_agg(currency ORDER BY currency) AS currencies,
        array_agg(n ORDER BY currency) AS counts, array_agg(amount ORDER BY currency) AS amounts
   FROM (SELECT currency, sum(count) AS n, sum(amount) AS amount FROM dashboard_unpaid
          WHERE {where} GROUP BY currency HAVING sum(count) <> 0) per_currency)"""
_PER_CURRENCY_COLUMNS = ("currencies", "counts", "amounts")
_CLIENTS_SQL = """(SELECT array_agg(substr(figure, 9)) AS statuses, array_agg(n) AS counts
   FROM (SELECT figure, sum(count) AS n FROM dashboard_counts
          WHERE figure LIKE 'clients.%' GROUP BY figure) per_status)"""
_COUNT_SQL = "(SELECT COALESCE(sum(count), 0) AS n FROM dashboard_counts WHERE figure = ${0})"
_INCOME_SQL = """(SELECT array_agg(start ORDER BY start, currency) AS starts,
        array_agg(currency ORDER BY start, currency) AS currencies,
        array_agg(amount ORDER BY start, currency) AS amounts
   FROM (SELECT date_trunc(${2}, day)::date AS start, currency, sum(amount) AS amount
           FROM dashboard_income WHERE day BETWEEN ${0} AND ${1}
          GROUP BY 1, 2 HAVING sum(amount) <> 0) per_period)"""
_LAST_RUN_SQL = f"""(SELECT {", ".join(runs.FIELDS)} FROM automation_runs
  WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1)"""
_TODAYS_RUN_SQL = "(SELECT finished_at FROM automation_runs WHERE as_of = ${0})"


async def read(
    conn: asyncpg.Connection, parts: Iterable[Part], settings: AutomationSettings
) -> Figures:
    """The figures of `parts` in one statement, whatever they are: a dashboard is one round
    trip. `settings` give today (overdue, the next run) in the installation's time zone."""
    now = datetime.now(settings.zone)
    wanted = list(dict.fromkeys(parts))
    joins: list[str] = []
    selected: list[list[str]] = []
    args: list[object] = []

    def join(sql: str, columns: tuple[str, ...], *values: object) -> None:
        numbers = [str(len(args) + n + 1) for n in range(len(values))]
        args.extend(values)
        alias = f"p{len(joins)}"
        joins.append(f"LEFT JOIN LATERAL {sql.format(*numbers)} {alias} ON true")
        selected.append([f"{alias}.{column} AS {alias}_{column}" for column in columns])

    for part in wanted:
        if isinstance(part, IncomeRange):
            unit = "day" if part.interval is Interval.DAY else "month"
            join(_INCOME_SQL, ("starts", "currencies", "amounts"), part.start, part.end, unit)
        elif part is Figure.CLIENTS_BY_STATUS:
            join(_CLIENTS_SQL, ("statuses", "counts"))
        elif part is Figure.UNPAID:
            join(_PER_CURRENCY.replace("{where}", "true"), _PER_CURRENCY_COLUMNS)
        elif part is Figure.OVERDUE:
            where = "due_date < ${0}"
            join(_PER_CURRENCY.replace("{where}", where), _PER_CURRENCY_COLUMNS, now.date())
        elif part is Figure.LAST_RUN:
            join(_LAST_RUN_SQL, runs.FIELDS)
        elif part is Figure.NEXT_RUN:
            join(_TODAYS_RUN_SQL, ("finished_at",), now.date())
        else:
            join(_COUNT_SQL, ("n",), part.value)
    columns = ", ".join(c for part_columns in selected for c in part_columns) or "1"
    row = await conn.fetchrow(f"SELECT {columns} FROM (SELECT) one {' '.join(joins)}", *args)
    figures = Figures()
    for n, part in enumerate(wanted):
        prefix = f"p{n}_"
        value = {k.removeprefix(prefix): v for k, v in row.items() if k.startswith(prefix)}
        _take(figures, part, value, now, settings)
    return figures


def _take(
    figures: Figures,
    part: Part,
    value: dict[str, Any],
    now: datetime,
    settings: AutomationSettings,
) -> None:
    """Put one part's columns in `figures`."""
    if isinstance(part, IncomeRange):
        totals: dict[date, list[CurrencyTotal]] = {}
        for start, currency, amount in _zipped(
            value["starts"], value["currencies"], value["amounts"]
        ):
            totals.setdefault(start, []).append(CurrencyTotal(currency, amount))
        figures.income[part] = [IncomePeriod(day, totals.get(day, [])) for day in part.starts]
    elif part is Figure.CLIENTS_BY_STATUS:
        counted = dict(_zipped(value["statuses"], value["counts"]))
        figures.clients_by_status = {s: int(counted.get(s.value, 0)) for s in ClientStatus}
    elif part in (Figure.UNPAID, Figure.OVERDUE):
        rows = _zipped(value["currencies"], value["counts"], value["amounts"])
        figures.invoices[part] = InvoiceFigures(
            count=sum(int(n) for _, n, _ in rows),
            totals=[CurrencyTotal(currency, amount) for currency, _, amount in rows],
        )
    elif part is Figure.LAST_RUN:
        figures.last_run = None if value["id"] is None else AutomationRun(**value)
    elif part is Figure.NEXT_RUN:
        # Today's time of day unless today's run is finished (then tomorrow's). Past the
        # time, unfinished, it is due now: its time is in the past.
        day = now.date() + timedelta(days=value["finished_at"] is not None)
        figures.next_run_at = datetime.combine(day, settings.run_at, tzinfo=settings.zone)
    else:
        figures.counts[part] = int(value["n"])


def _zipped(*arrays: list[Any] | None) -> list[tuple[Any, ...]]:
    """Parallel arrays of an aggregate as rows; array_agg over nothing is NULL."""
    return list(zip(*(array or [] for array in arrays), strict=True))


def today(settings: AutomationSettings) -> date:
    """Today in the installation's time zone: what "overdue" and the daily run count from."""
    return datetime.now(settings.zone).date()
