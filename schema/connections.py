"""Relay cursor connections: `XConnection { edges { cursor node } pageInfo }` for any X.

A list's connection is `Connection[X]` (named `XConnection` in the schema, its edges
`XEdge`), or a subclass of it that adds fields such as `totalCount`.

A list's `totalCount` is exact up to `domain.totals.TOTAL_COUNT_CAP` and an estimate beyond,
flagged by `totalCountIsEstimate` beside it (docs/large-lists.md): `total_count_field` and
`total_count_is_estimate_field` declare the two with their descriptions.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import strawberry

from domain.totals import TOTAL_COUNT_CAP
from schema.common import PageInfo

Item = TypeVar("Item")


@strawberry.type(description="An item of a list, with its cursor.")
class Edge(Generic[Item]):
    cursor: str = strawberry.field(
        description="Opaque position of this item in the list, for `after` or `before`."
    )
    node: Item = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list (Relay cursor connection).")
class Connection(Generic[Item]):
    edges: list[Edge[Item]] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="Where this page stands.")


def total_count_description(how_many: str) -> str:
    """`how_many`: what the figure counts, e.g. "How many emails the list has"."""
    return (
        f"{how_many}, all pages: exact up to {TOTAL_COUNT_CAP:,}; beyond "
        "that an estimate (from the database's statistics, or the number of matches found "
        f"where a few thousand were gathered), never below {TOTAL_COUNT_CAP + 1:,} (then "
        "`totalCountIsEstimate` is true)."
    )


def total_count_is_estimate_description(items: str) -> str:
    return (
        f"Whether `totalCount` is an estimate: true when more than {TOTAL_COUNT_CAP:,} {items} "
        "match (counting them all would cost as much as reading them), false when it is exact."
    )


def total_count_field(how_many: str) -> Any:
    """`totalCount` of a connection that holds its figure."""
    return strawberry.field(description=total_count_description(how_many))


def total_count_is_estimate_field(items: str) -> Any:
    """`totalCountIsEstimate` of a connection of `items` that holds its flag."""
    return strawberry.field(description=total_count_is_estimate_description(items))
