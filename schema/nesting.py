"""The cap of nested lists (a client's, a service's addons) and their `first` argument."""

from __future__ import annotations

from typing import Annotated

import strawberry
from graphql import GraphQLError

# Each nested list (of a client, of a service) returns at most this many items (its `first`,
# by default all up to the cap): a page of 200 clients cannot ask for every row of each. The
# staff lists (`invoices(clientId:)`, …) page through all of them.
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
