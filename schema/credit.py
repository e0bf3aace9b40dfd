"""Credit types and payloads (SPEC 3)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from domain.credit.ledger import CreditEntry as EntryRow
from schema.common import UserError
from schema.ids import global_id
from schema.node import Node

if TYPE_CHECKING:
    from schema.clients import Client


@strawberry.type(description="One change of a client's credit balance; the balance is their sum.")
class CreditEntry(Node):
    id: strawberry.ID = strawberry.field(description="The entry's id.")
    date: datetime = strawberry.field(description="When the credit changed.")
    description: str = strawberry.field(description="Why: the description or removal reason.")
    amount: Decimal = strawberry.field(
        description="Signed amount: positive adds credit, negative removes or spends it."
    )
    staff: str | None = strawberry.field(
        description="Name of the staff member who made the change; null when automatic "
        "(credit applied to an invoice, overpayment)."
    )

    @classmethod
    def build(cls, row: EntryRow) -> CreditEntry:
        return cls(
            id=global_id("CreditEntry", row.id),
            date=row.date,
            description=row.description,
            amount=row.amount,
            staff=row.staff_name,
        )


@strawberry.type(description="The result of a credit mutation.")
class CreditPayload:
    client: Annotated[Client, strawberry.lazy("schema.clients")] | None = strawberry.field(
        default=None, description="The client with its new balance; null when refused."
    )
    entry: CreditEntry | None = strawberry.field(
        default=None, description="The entry added or deleted; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
