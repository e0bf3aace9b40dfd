"""A client's nested lists: their cap, and the product status filter of its services, addons
and domains (SPEC 1.9)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from graphql import GraphQLError

from domain.billing.models import DomainStatus, ServiceStatus

# Imported for its strawberry.enum of the statuses, with their descriptions: an annotation
# resolved before it would describe them a second time, without (DuplicatedTypeName).
from schema import billing  # noqa: F401

# Each nested list of a client returns at most this many items (its `first`, by default all
# up to the cap): a page of 200 clients cannot ask for every row of each. The staff lists
# (`invoices(clientId:)`, …) page through all of them.
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


# The product status filter of the lists of services, addons and domains (SPEC 1.9).
REMEMBERED = (
    "Staff: `statuses` is remembered for the login session, for every client, and applies "
    "while omitted (SPEC 1.9; `viewer.productStatusFilter`, `clearProductStatusFilter`). At "
    f"most `first` ({NESTED_LIST_CAP}, the cap)."
)
ServiceStatuses = Annotated[
    list[ServiceStatus] | None,
    strawberry.argument(description="Only these statuses; staff: remembered."),
]


@strawberry.type(
    description="What a staff session chose to see of every client's services, addons and "
    "domains (SPEC 1.9), until `clearProductStatusFilter` or the session's end."
)
class ProductStatusFilter:
    services: list[ServiceStatus] | None = strawberry.field(
        description="The statuses of services and addons listed; null: all of them."
    )
    domains: list[DomainStatus] | None = strawberry.field(
        description="The statuses of domains listed; null: all of them."
    )
