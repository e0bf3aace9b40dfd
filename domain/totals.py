"""How many rows a list has: exact up to `TOTAL_COUNT_CAP` and estimated beyond it, so that
a total costs about as much at a million rows as at a thousand (docs/large-lists.md)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

# Totals up to this many rows are counted exactly; above it they are the planner's estimate.
# Counting stops at the cap, so a total costs at most ~a thousand index entries to count.
TOTAL_COUNT_CAP = 1000
# Where the planner expects more than this many times the cap, the rows are not counted at
# all: finding the cap's worth of a common search term's rows costs more than the whole page
# (its trigram bitmap is built in full first). The statistics would have to be wrong tenfold
# for a total within the cap to be reported as an estimate.
ESTIMATE_ONLY_ABOVE = 10


def where_clause(conditions: Sequence[str]) -> str:
    """The conditions as one WHERE clause (joined by AND); none, no clause."""
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


@dataclass(frozen=True)
class Total:
    """How many rows match: exact when not `is_estimate`; otherwise the planner's estimate,
    never below `TOTAL_COUNT_CAP + 1` (the rows counted before stopping)."""

    count: int
    is_estimate: bool


async def count_rows(
    conn: asyncpg.Connection,
    source: str,
    *,
    conditions: Sequence[str] = (),
    params: Sequence[Any] = (),
    cap: int = TOTAL_COUNT_CAP,
) -> Total:
    """How many rows of `source` (a FROM clause) match `conditions`: exact up to `cap`, an
    estimate beyond it.

    The estimate is the planner's (row counts scaled to the table's current size, the
    statistics of the filtered columns): a planning step, not a scan. When it expects more
    than `ESTIMATE_ONLY_ABOVE` times the cap, that is the answer; otherwise counting stops
    after `cap + 1` rows, so its cost does not grow with the table either."""
    estimate = await estimate_rows(conn, source, conditions=conditions, params=params)
    return await _capped_count(conn, source, conditions, params, estimate, cap)


async def _capped_count(
    conn: asyncpg.Connection,
    source: str,
    conditions: Sequence[str],
    params: Sequence[Any],
    estimate: int,
    cap: int,
) -> Total:
    if estimate <= ESTIMATE_ONLY_ABOVE * cap:
        counted: int = await conn.fetchval(capped_count_sql(source, conditions, cap), *params)
        if counted <= cap:
            return Total(counted, is_estimate=False)
    return Total(max(estimate, cap + 1), is_estimate=True)


def capped_count_sql(source: str, conditions: Sequence[str], cap: int) -> str:
    """How many rows of `source` match `conditions`, counting stopped after `cap + 1`."""
    limited = f"SELECT 1 {source} {where_clause(conditions)} LIMIT {cap + 1}"
    return f"SELECT count(*) FROM ({limited}) AS capped"


async def estimate_rows(
    conn: asyncpg.Connection,
    source: str,
    *,
    conditions: Sequence[str] = (),
    params: Sequence[Any] = (),
) -> int:
    """How many rows of `source` the planner expects to match `conditions`: a planning step
    (about 0.3 ms), no scan."""
    plan = await conn.fetchval(
        f"EXPLAIN (FORMAT JSON) SELECT 1 {source} {where_clause(conditions)}", *params
    )
    if isinstance(plan, str):  # a connection without the application's json codec
        plan = json.loads(plan)
    rows: float = plan[0]["Plan"]["Plan Rows"]
    return round(rows)


@asynccontextmanager
async def custom_plans(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """Around statements whose best plan depends on their parameters' values (a search term
    matching one row or half the table): plan them for the values of each execution.

    asyncpg prepares every statement, and after five executions PostgreSQL may keep one
    generic plan, made without the values, for all later ones. `force_custom_plan`, set for
    one read-only transaction, keeps it from doing so for these statements only (inside a
    caller's transaction: for the rest of it). Two round trips: BEGIN with the SET, COMMIT."""
    if conn.is_in_transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        yield
        return
    await conn.execute("BEGIN READ ONLY; SET LOCAL plan_cache_mode = force_custom_plan")
    try:
        yield
    except BaseException:
        await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")
