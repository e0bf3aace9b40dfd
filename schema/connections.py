"""Relay cursor connections: `XConnection { edges { cursor node } pageInfo }` for any X.

A list's connection is `Connection[X]` (named `XConnection` in the schema, its edges
`XEdge`), or a subclass of it that adds fields such as `totalCount`.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import strawberry

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
