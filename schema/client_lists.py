"""The product status filter of a client's nested lists of services, addons and domains
(SPEC 1.9); their cap is schema/nesting.py's."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domain.billing.models import DomainStatus, ServiceStatus

# Imported for its strawberry.enum of the statuses, with their descriptions: an annotation
# resolved before it would describe them a second time, without (DuplicatedTypeName).
from schema import billing  # noqa: F401
from schema.nesting import NESTED_LIST_CAP

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
