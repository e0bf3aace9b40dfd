"""The cap of nested lists (a client's invoices, an affiliate's commissions, …): each takes
`first`, at most the cap, so that a page of parents cannot ask for every row of each."""

from __future__ import annotations

from typing import Annotated

import strawberry
from graphql import GraphQLError

# Each nested list returns at most this many items (its `first`, by default all up to the
# cap). The staff lists (`invoices(clientId:)`, …) page through all of them.
NESTED_LIST_CAP = 200
Capped = Annotated[
    int,
    strawberry.argument(
        description=f"At most this many, 1–{NESTED_LIST_CAP} (the cap, and the default)."
    ),
]


def capped(first: int) -> int:
    """`first` once checked (the loaders cut each list at it, in SQL); BAD_USER_INPUT for a
    size beyond the cap."""
    if not 1 <= first <= NESTED_LIST_CAP:
        raise GraphQLError(
            f"`first` must be between 1 and {NESTED_LIST_CAP}.",
            extensions={"code": "BAD_USER_INPUT", "argument": "first"},
        )
    return first
