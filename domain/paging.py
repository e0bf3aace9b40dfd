"""Keyset pagination of any list sorted by one expression and then by id, both ways.

A list describes itself once as a `Keyset` (its columns, its FROM, its sort expression);
`fetch_page` then serves forward pages (`first` after a position) and backward pages
(`last` before one) with one query on the (expression, id) index, whatever the page; a
second, small one only when asked whether items lie behind the cursor paged from.

A new paged list (audit log, transactions, failed emails, …) writes its `Keyset` and
conditions here, and its resolver uses `resolvers.pagination`.

A page's total comes with it (`fetch_page_and_total`), counted as domain/totals.py counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import asyncpg

from domain.errors import DomainError, ErrorCode
from domain.totals import (
    ESTIMATE_ONLY_ABOVE,
    TOTAL_COUNT_CAP,
    Total,
    capped_count_sql,
    count_rows,
    estimate_rows,
    where_clause,
)

Item = TypeVar("Item")
Build = TypeVar("Build", bound=Callable[..., Any])

# Where the planner expects at most this many times the cap, a page and its total are read
# from all the matches, collected once (`fetch_page_and_total`); the collection stops one
# beyond this many times the cap, and only then is the page read again, on its own.
COLLECT_BELOW = 5


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
    build: Callable[[Mapping[str, Any]], Item],
    *,
    conditions: Sequence[str] = (),
    params: Sequence[Any] = (),
    descending: bool = False,
    look_behind: bool = True,
) -> Page[Item]:
    """One page of the rows matching `conditions` (numbered from $1 with `params`), each
    made an item by `build` from its own columns (the keyset's, by name, in their order).

    Whether items lie beyond the page on its far side is known from one extra row. On the
    near side (before `after` going forward, after `before` going back) it takes a second,
    small query, made only when `look_behind` and that cursor is given.
    """
    page, _ = await _fetch_page(
        conn, keyset, request, build, conditions, params, descending, look_behind
    )
    return page


def _total_sql(matching: str, conditions: Sequence[str], cap: int) -> str:
    """The rows of `matching` that meet `conditions`, counted up to `cap + 1`, as one
    expression; without conditions, beyond the cap, the planner's estimate of all of them
    (at least `cap + 1`) instead."""
    counted = capped_count_sql(matching, conditions, cap)
    if conditions:
        return f"({counted})"
    whole = "'" + f"SELECT 1 {matching}".replace("'", "''") + "'"
    estimated = f"greatest(planner_row_estimate({whole}), {cap + 1})"
    return f"(SELECT CASE WHEN n <= {cap} THEN n ELSE {estimated} END FROM ({counted}) AS c(n))"


async def _fetch_page(
    conn: asyncpg.Connection,
    keyset: Keyset,
    request: PageRequest,
    build: Callable[[Mapping[str, Any]], Item],
    conditions: Sequence[str],
    params: Sequence[Any],
    descending: bool,
    look_behind: bool,
    *,
    total: str | None = None,
) -> tuple[Page[Item], int | None]:
    """The page, and with `total` (an SQL expression of `params`) its value, read by the
    page's statement (None for an empty page: no row carries it)."""
    page_params = list(params)
    in_range, direction = _range(keyset, request, page_params, descending)
    page_params.append(request.size + 1)
    # An uncorrelated sub-select: PostgreSQL reads it once, not for each row of the page.
    total_column = "" if total is None else f"{total} AS page_total,"
    rows = await _fetch(
        conn,
        f"""SELECT {total_column} ({keyset.expression})::text AS page_sort_value,
                   {keyset.id_column} AS page_id,
                   {keyset.columns} {keyset.source} {where_clause([*conditions, *in_range])}
             ORDER BY {keyset.expression} {direction}, {keyset.id_column} {direction}
             LIMIT ${len(page_params)}""",
        page_params,
        request,
    )
    near_cursor = request.before if request.backwards else request.after
    beyond_near_side = False
    if look_behind and near_cursor is not None:
        near_params = list(params)
        outside = _outside(keyset, request, near_cursor, near_params, descending)
        beyond_near_side = await _fetch(
            conn,
            f"SELECT EXISTS (SELECT 1 {keyset.source} {where_clause([*conditions, outside])})",
            near_params,
            request,
            value=True,
        )
    value = rows[0]["page_total"] if total is not None and rows else None
    return _page(rows, request, build, beyond_near_side), value


async def fetch_page_and_total(
    conn: asyncpg.Connection,
    keyset: Keyset,
    request: PageRequest,
    build: Callable[[Mapping[str, Any]], Item],
    *,
    matching: str,
    conditions: Sequence[str] = (),
    params: Sequence[Any] = (),
    descending: bool = False,
    look_behind: bool = True,
    cap: int = TOTAL_COUNT_CAP,
    collect: bool = False,
    estimate: int | None = None,
    narrowing: Sequence[str] = (),
    narrowing_params: Sequence[Any] = (),
) -> tuple[Page[Item], Total]:
    """A page (as `fetch_page`) and the total (as `count_rows` of `matching`, a FROM clause
    in which `conditions` and the keyset's expression and id can be read: its table).

    With `collect` (a filter whose matches may be few), where the planner expects at most
    `COLLECT_BELOW` times the cap, one statement collects every match (their ids and sort
    values, up to that many) once, on the filter's index, and both the page and the total
    come from those rows: an index whose scan costs more than the page (a search fragment's
    trigrams) is read once, not for the page and again for the count, and a rare match is
    never looked for by walking the list's order. The total is exact up to the cap; beyond
    it, flagged an estimate, it is the number collected.

    Otherwise the page's own statement counts: one round trip where the estimate, the page
    and the count took three. Without conditions it counts up to `cap + 1` rows, whatever
    the table's size, and only beyond the cap asks the planner's estimate instead
    (`planner_row_estimate`, migration 0021). With conditions, the estimate comes first, as
    in `count_rows`: rows are counted only where it expects few enough for counting to stay
    cheap.

    `estimate`, when the caller has it, is the planner's for `conditions`. `narrowing` are
    conditions that `conditions` imply (numbered after `params`, with `narrowing_params`),
    put before them where the matches are collected: the index is entered by the first, so
    a rarer part of a search term spares reading what its common parts match."""
    if estimate is None and conditions:
        estimate = await estimate_rows(conn, matching, conditions=conditions, params=params)
    # The total when nothing is counted: beyond the matches collected, or far beyond the cap.
    uncounted = None
    if collect and estimate is not None and estimate <= COLLECT_BELOW * cap:
        collected = await _page_of_all_matches(
            conn,
            keyset,
            request,
            build,
            matching,
            [*narrowing, *conditions],
            [*params, *narrowing_params],
            descending,
            look_behind,
            COLLECT_BELOW * cap,
        )
        if collected is not None:
            page, count = collected
            return page, Total(count, is_estimate=count > cap)
        uncounted = Total(max(estimate, COLLECT_BELOW * cap + 1), is_estimate=True)
    elif estimate is not None and estimate > ESTIMATE_ONLY_ABOVE * cap:
        uncounted = Total(estimate, is_estimate=True)
    page, counted = await _fetch_page(
        conn,
        keyset,
        request,
        build,
        conditions,
        params,
        descending,
        look_behind,
        total=None if uncounted else _total_sql(matching, conditions, cap),
    )
    if uncounted is not None:
        return page, uncounted
    if counted is None:  # an empty page: no row carried the total
        return page, await count_rows(conn, matching, conditions=conditions, params=params, cap=cap)
    if counted <= cap:
        return page, Total(counted, is_estimate=False)
    return page, Total(counted if estimate is None else max(estimate, cap + 1), is_estimate=True)


async def _page_of_all_matches(
    conn: asyncpg.Connection,
    keyset: Keyset,
    request: PageRequest,
    build: Callable[[Mapping[str, Any]], Item],
    matching: str,
    conditions: Sequence[str],
    params: Sequence[Any],
    descending: bool,
    look_behind: bool,
    collect: int,
) -> tuple[Page[Item], int] | None:
    """The page and the number of matches, from the matches collected once; None when more
    than `collect` match (the collected rows are then only some of them)."""
    # The matches, collected once: their ids and sort values, the page ranged over those.
    matched = replace(keyset, expression="matched.sort_key", id_column="matched.id")
    statement_params = list(params)
    in_range, direction = _range(matched, request, statement_params, descending)
    statement_params.append(request.size + 1)
    page_size = len(statement_params)
    near_cursor = request.before if request.backwards else request.after
    behind = "false"
    if look_behind and near_cursor is not None:
        outside = _outside(matched, request, near_cursor, statement_params, descending)
        behind = f"EXISTS (SELECT 1 FROM matched WHERE {outside})"
    rows = await _fetch(
        conn,
        f"""WITH matched AS MATERIALIZED (
                 SELECT {keyset.id_column} AS id, {keyset.expression} AS sort_key
                        {matching} {where_clause(conditions)} LIMIT {collect + 1}
             ), page AS (
                 SELECT matched.id, matched.sort_key FROM matched {where_clause(in_range)}
                  ORDER BY matched.sort_key {direction}, matched.id {direction}
                  LIMIT ${page_size}
             )
             SELECT counted.total AS page_total, {behind} AS page_behind,
                    page.sort_key::text AS page_sort_value, page.id AS page_id, item.*
               FROM (SELECT count(*) AS total FROM matched) AS counted
               LEFT JOIN (page CROSS JOIN LATERAL (
                     SELECT {keyset.columns} {keyset.source} WHERE {keyset.id_column} = page.id
                   ) AS item) ON true
              ORDER BY page.sort_key {direction}, page.id {direction}""",
        statement_params,
        request,
    )
    # One row at least (the total's), with no page item when the page is empty.
    count: int = rows[0]["page_total"]
    if count > collect:
        return None
    items = [row for row in rows if row["page_id"] is not None]
    return _page(items, request, build, rows[0]["page_behind"]), count


def _range(
    keyset: Keyset, request: PageRequest, params: list[Any], descending: bool
) -> tuple[list[str], str]:
    """The conditions keeping a page between its cursors (their parameters appended to
    `params`), and the direction to read it in: a backward page is read from its end."""
    in_range = []
    if request.after is not None:
        in_range.append(_compare(keyset, ">", request.after, params, descending))
    if request.before is not None:
        in_range.append(_compare(keyset, "<", request.before, params, descending))
    return in_range, "DESC" if descending != request.backwards else "ASC"


def _outside(
    keyset: Keyset, request: PageRequest, near_cursor: Position, params: list[Any], descending: bool
) -> str:
    """Not after `after` (going forward), or not before `before` (going back)."""
    operator = ">=" if request.backwards else "<="
    return _compare(keyset, operator, near_cursor, params, descending)


def _page(
    rows: list[asyncpg.Record],
    request: PageRequest,
    build: Callable[[Mapping[str, Any]], Item],
    beyond_near_side: bool,
) -> Page[Item]:
    """The page of `rows` read in the page's direction, one more than its size if there is
    more beyond its far side."""
    beyond_far_side = len(rows) > request.size
    rows = rows[: request.size]
    if request.backwards:
        rows.reverse()
    return Page(
        items=[build(row) for row in (rows if hasattr(build, _READS_TAIL) else _item_rows(rows))],
        positions=[Position(row["page_sort_value"], row["page_id"]) for row in rows],
        has_next_page=beyond_near_side if request.backwards else beyond_far_side,
        has_previous_page=beyond_far_side if request.backwards else beyond_near_side,
    )


# The columns the page's statements add to the item's own (`_fetch_page`,
# `_page_of_all_matches`). `build` never sees them (unless marked `reads_tail`): a builder
# that takes its row whole (`Item(**dict(row))`) would otherwise fail on every page.
_PAGE_COLUMNS = frozenset({"page_total", "page_behind", "page_sort_value", "page_id"})
_READS_TAIL = "reads_tail_of_row"


def reads_tail(build: Build) -> Build:
    """Marks a builder that reads only the last columns of any row it is given, by
    position (`domain.clients.queries.client_from_row`): a page hands it its rows as
    fetched, the page's own columns still in front, without a mapping made per row."""
    setattr(build, _READS_TAIL, True)
    return build


def _item_rows(rows: list[asyncpg.Record]) -> list[Mapping[str, Any]]:
    """The item's own columns of each of a page's rows, in their order: what follows the
    page's columns, which its statements select first. Named once for the page, so that a
    row is one `dict(zip(…))` (a filter of its 30 names per row cost 1.8 µs, 50 µs a page)."""
    names = list(rows[0].keys()) if rows else []
    first_own = len(_PAGE_COLUMNS.intersection(names))
    assert _PAGE_COLUMNS.issuperset(names[:first_own]), "a page's own columns come first"
    return [dict(zip(names[first_own:], row[first_own:], strict=True)) for row in rows]


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
