"""Keyset pagination of any list sorted by one expression and then by id, both ways.

A list describes itself once as a `Keyset` (its columns, its FROM, its sort expression);
`fetch_page` then serves forward pages (`first` after a position) and backward pages
(`last` before one) with one query on the (expression, id) index, whatever the page; a
second, small one only when asked whether items lie behind the cursor paged from.

A new paged list (audit log, transactions, failed emails, …) writes its `Keyset` and
conditions here, and its resolver uses `resolvers.pagination`.

Totals (`count_rows`) are exact up to `TOTAL_COUNT_CAP` and estimated beyond it, so that a
total costs about as much at a million rows as at a thousand (docs/scale.md).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg

from domain.errors import DomainError, ErrorCode

Item = TypeVar("Item")

# Totals up to this many rows are counted exactly; above it they are the planner's estimate.
# Counting stops at the cap, so a total costs at most ~a thousand index entries to count.
TOTAL_COUNT_CAP = 1000
# Where the planner expects more than this many times the cap, the rows are not counted at
# all: finding the cap's worth of a common search term's rows costs more than the whole page
# (its trigram bitmap is built in full first). The statistics would have to be wrong tenfold
# for a total within the cap to be reported as an estimate.
ESTIMATE_ONLY_ABOVE = 10


@dataclass(frozen=True)
class Position:
    """An item's place in a sorted list: its sort value (as text) and its id."""

    sort_value: str
    id: int


@dataclass(frozen=True)
class PageRequest:
    """Which page: `size` items from the start of the range between `after` and `before`,
    or from its end when `backwards` (Relay's `last`)."""

    size: int
    backwards: bool = False
    after: Position | None = None
    before: Position | None = None


@dataclass(frozen=True)
class Page(Generic[Item]):
    items: list[Item]
    positions: list[Position]
    has_next_page: bool
    has_previous_page: bool


@dataclass(frozen=True)
class Keyset:
    """A sorted list as SQL: `SELECT {columns} {source} WHERE … ORDER BY {expression}, {id}`.

    `sql_type` is the type of `expression`, to read a position's sort value back."""

    columns: str
    source: str
    expression: str
    sql_type: str
    id_column: str


async def fetch_page(
    conn: asyncpg.Connection,
    keyset: Keyset,
    request: PageRequest,
    build: Callable[[asyncpg.Record], Item],
    *,
    conditions: Sequence[str] = (),
    params: Sequence[Any] = (),
    descending: bool = False,
    look_behind: bool = True,
) -> Page[Item]:
    """One page of the rows matching `conditions` (numbered from $1 with `params`).

    Whether items lie beyond the page on its far side is known from one extra row. On the
    near side (before `after` going forward, after `before` going back) it takes a second,
    small query, made only when `look_behind` and that cursor is given.
    """
    page_params = list(params)
    in_range = list(conditions)
    if request.after is not None:
        in_range.append(_compare(keyset, ">", request.after, page_params, descending))
    if request.before is not None:
        in_range.append(_compare(keyset, "<", request.before, page_params, descending))
    # A backward page is read from its end, in the opposite order, then turned round.
    direction = "DESC" if descending != request.backwards else "ASC"
    page_params.append(request.size + 1)
    rows = await _fetch(
        conn,
        f"""SELECT ({keyset.expression})::text AS page_sort_value, {keyset.id_column} AS page_id,
                   {keyset.columns} {keyset.source} {_where(in_range)}
             ORDER BY {keyset.expression} {direction}, {keyset.id_column} {direction}
             LIMIT ${len(page_params)}""",
        page_params,
        request,
    )
    beyond_far_side = len(rows) > request.size
    rows = rows[: request.size]
    if request.backwards:
        rows.reverse()
    near_cursor = request.before if request.backwards else request.after
    beyond_near_side = False
    if look_behind and near_cursor is not None:
        # Not after `after` (going forward), or not before `before` (going back).
        near_params = list(params)
        outside = _compare(
            keyset, ">=" if request.backwards else "<=", near_cursor, near_params, descending
        )
        beyond_near_side = await _fetch(
            conn,
            f"SELECT EXISTS (SELECT 1 {keyset.source} {_where([*conditions, outside])})",
            near_params,
            request,
            value=True,
        )
    return Page(
        items=[build(row) for row in rows],
        positions=[Position(row["page_sort_value"], row["page_id"]) for row in rows],
        has_next_page=beyond_near_side if request.backwards else beyond_far_side,
        has_previous_page=beyond_far_side if request.backwards else beyond_near_side,
    )


_MIRRORED = {">": "<", "<": ">", ">=": "<=", "<=": ">="}


def _compare(
    keyset: Keyset, operator: str, position: Position, params: list[Any], descending: bool
) -> str:
    """The SQL condition "sorts {operator} `position`" in the list's order, its two
    parameters appended to `params`."""
    params += [position.sort_value, position.id]
    if descending:
        operator = _MIRRORED[operator]
    return (
        f"({keyset.expression}, {keyset.id_column}) {operator} "
        f"(${len(params) - 1}::text::{keyset.sql_type}, ${len(params)}::bigint)"
    )


def _where(conditions: Sequence[str]) -> str:
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


async def _fetch(
    conn: asyncpg.Connection,
    sql: str,
    params: Sequence[Any],
    request: PageRequest,
    *,
    value: bool = False,
) -> Any:
    try:
        return await (conn.fetchval if value else conn.fetch)(sql, *params)
    except asyncpg.DataError:
        # Positions come from cursors the caller may have altered: a sort value or id that
        # is not of the list's types is bad input, not a server fault.
        if request.after is None and request.before is None:
            raise
        field = "before" if request.before is not None and request.after is None else "after"
        message = "Not a position in this order."
        raise DomainError.single(ErrorCode.INVALID, message, field) from None


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
    where = _where(conditions)
    plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) SELECT 1 {source} {where}", *params)
    if isinstance(plan, str):  # a connection without the application's json codec
        plan = json.loads(plan)
    estimate = round(plan[0]["Plan"]["Plan Rows"])
    if estimate <= ESTIMATE_ONLY_ABOVE * cap:
        counted: int = await conn.fetchval(
            f"SELECT count(*) FROM (SELECT 1 {source} {where} LIMIT {cap + 1}) AS capped",
            *params,
        )
        if counted <= cap:
            return Total(counted, is_estimate=False)
    return Total(max(estimate, cap + 1), is_estimate=True)


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
