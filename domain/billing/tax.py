"""Tax rules: a rate per country, or per state of a country, set by staff. Invoices take the
rule of the client's state, else of its country (see `invoices.TAX_RATE_SQL`)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import asyncpg

from domain.billing.models import TaxRule
from domain.countries import COUNTRY_CODES
from domain.errors import ErrorCode, NotFound
from domain.nested import by_id
from domain.validation import InputCheck

_COLUMNS = "id, country, state, name, rate"


async def set_tax_rule(
    conn: asyncpg.Connection,
    *,
    country: str,
    state: str | None,
    name: str,
    rate: Decimal | str,
) -> TaxRule:
    """Create the rule of a country (or state), or change the one it already has."""
    check = InputCheck()
    code = (country or "").strip().upper()
    if code not in COUNTRY_CODES:
        check.fail("country", ErrorCode.INVALID, f"'{country}' is not an ISO 3166 country code.")
    region = (state or "").strip().upper()
    label = check.required_text("name", name, "Name")
    percent = _rate(check, rate)
    check.raise_if_failed()
    row = await conn.fetchrow(
        f"""INSERT INTO tax_rules (country, state, name, rate) VALUES ($1, $2, $3, $4)
            ON CONFLICT (country, state) DO UPDATE SET name = excluded.name, rate = excluded.rate
            RETURNING {_COLUMNS}""",
        code,
        region,
        label,
        percent,
    )
    return TaxRule(**dict(row))


def _rate(check: InputCheck, value: Decimal | str) -> Decimal:
    try:
        percent = Decimal(str(value).strip())
    except InvalidOperation:
        percent = Decimal("NaN")
    if not percent.is_finite() or not 0 < percent <= 100 or percent != round(percent, 2):
        check.fail(
            "rate",
            ErrorCode.INVALID,
            "A rate is a percentage above 0 and up to 100, with at most two places.",
        )
    return percent


async def delete_tax_rule(conn: asyncpg.Connection, rule_id: int) -> TaxRule:
    row = await conn.fetchrow(f"DELETE FROM tax_rules WHERE id = $1 RETURNING {_COLUMNS}", rule_id)
    if row is None:
        raise NotFound("Tax rule")
    return TaxRule(**dict(row))


async def tax_rules_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, TaxRule]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM tax_rules WHERE id = ANY($1::bigint[])", list(ids)
    )
    return by_id(rows, lambda row: TaxRule(**dict(row)))


async def tax_rules(conn: asyncpg.Connection) -> list[TaxRule]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM tax_rules ORDER BY country, state")
    return [TaxRule(**dict(row)) for row in rows]
