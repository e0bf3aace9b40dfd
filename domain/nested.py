"""The nested lists of many parents in one statement, each parent's cut in the database.

A page of 200 clients asking for each one's invoices must not read every invoice of every
client to keep the first few: each parent's rows are read by a LATERAL subquery that stops
at its limit (on the parent's index), and all parents come back in one round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import asyncpg

Row = TypeVar("Row")
PARENT = "{parent}"


def first_of_each(query: str) -> str:
    """`query` — one parent's rows in their order, naming the parent's id `{parent}`, its
    other parameters from `$3` — for every parent id of `$1` (bigint[]), at most `$2` rows
    each (NULL: all). Each parent's rows come in `query`'s order: a LATERAL subquery with
    a LIMIT that names the outer row cannot be flattened, so it runs once per parent (a
    nested loop), its rows in its own order (no outer sort, which need not be stable)."""
    assert PARENT in query
    return (
        "SELECT nested.* FROM unnest($1::bigint[]) AS parent(id) "
        f"CROSS JOIN LATERAL ({query.replace(PARENT, 'parent.id')} LIMIT $2) nested"
    )


def by_id(rows: Sequence[asyncpg.Record], build: Callable[[asyncpg.Record], Row]) -> dict[int, Row]:
    """Rows fetched by id (`id = ANY(...)`), built, by their id: an absent id has no key."""
    return {row["id"]: build(row) for row in rows}


def grouped(
    rows: Sequence[asyncpg.Record],
    parent_ids: Sequence[int],
    build: Callable[[asyncpg.Record], Row],
    *,
    parent: str = "client_id",
) -> dict[int, list[Row]]:
    """Each parent's rows built, in their order; an empty list for a parent without any."""
    found: dict[int, list[Row]] = {pk: [] for pk in parent_ids}
    for row in rows:
        found[row[parent]].append(build(row))
    return found
