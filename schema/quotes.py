"""Quote types, inputs and payloads (SPEC 14.4)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry
from strawberry.types import Info

from domain.auth.permissions import ContactPermission, StaffPermission
from domain.billing.models import BillingCycle
from domain.quotes import models
from schema.access import require
from schema.billing import Invoice
from schema.common import UserError
from schema.context import SchemaContext
from schema.ids import global_id
from schema.node import Node

QuoteStatus = strawberry.enum(
    models.QuoteStatus,
    description="DRAFT: being written, not shown to the client. SENT: emailed, may be "
    "accepted. ACCEPTED: turned into its invoice. EXPIRED: past its valid-until date, not "
    "accepted.",
)


@strawberry.type(description="A line of a quote.")
class QuoteLine:
    description: str = strawberry.field(description="What is offered.")
    amount: Decimal = strawberry.field(description="Its price before tax, in the quote's currency.")
    product_id: strawberry.ID | None = strawberry.field(
        description="The catalogue's product this line offers, if it names one."
    )
    billing_cycle: BillingCycle | None = strawberry.field(
        description="How often the product is invoiced at `amount`; null without a product."
    )

    @classmethod
    def build(cls, line: models.QuoteLine) -> QuoteLine:
        return cls(
            description=line.description,
            amount=line.amount,
            product_id=global_id("Product", line.product_id) if line.product_id else None,
            billing_cycle=line.billing_cycle,
        )


@strawberry.type(description="An offer of lines at prices until a date; accepted, an invoice.")
class Quote(Node):
    id: strawberry.ID = strawberry.field(description="The quote's id.")
    number: int = strawberry.field(description="Quote number, as quoted in 'Quote #N'.")
    status: QuoteStatus = strawberry.field(  # type: ignore[valid-type]
        description="Where it stands today."
    )
    valid_until: date = strawberry.field(description="The last day it may be accepted.")
    currency: str = strawberry.field(description="Currency code of its amounts.")
    subtotal: Decimal = strawberry.field(description="Sum of the lines, before tax.")
    lines: list[QuoteLine] = strawberry.field(description="What it offers, in order.")
    created_at: datetime = strawberry.field(description="When it was first saved.")
    sent_at: datetime | None = strawberry.field(description="When it was last emailed.")
    accepted_at: datetime | None = strawberry.field(description="When the client accepted it.")
    invoice_pk: strawberry.Private[int | None]

    @strawberry.field(
        description="The invoice accepting it made; null before. Reading it needs what "
        "reading invoices needs (a sub-account: INVOICES)."
    )
    async def invoice(self, info: Info[SchemaContext, None]) -> Invoice | None:
        await require(
            info, staff=StaffPermission.VIEW_CLIENTS, client_area=ContactPermission.INVOICES
        )
        if self.invoice_pk is None:
            return None
        row = await info.context.loaders.invoice_by_id.load(self.invoice_pk)
        return Invoice.build(row) if row else None

    @classmethod
    def build(cls, quote: models.Quote) -> Quote:
        return cls(
            id=global_id("Quote", quote.id),
            number=quote.id,
            status=quote.status(date.today()),
            valid_until=quote.valid_until,
            currency=quote.currency,
            subtotal=quote.subtotal,
            lines=[QuoteLine.build(line) for line in quote.lines],
            created_at=quote.created_at,
            sent_at=quote.sent_at,
            accepted_at=quote.accepted_at,
            invoice_pk=quote.invoice_id,
        )


@strawberry.input(description="A line of a quote being saved.")
class QuoteLineInput:
    description: str = strawberry.field(description="What is offered.")
    amount: Decimal = strawberry.field(description="Its price before tax, zero or more.")
    product_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The catalogue's product it offers, if any (not an ADDON): accepting the "
        "quote orders it at `amount`. Of a DOMAIN product, `description` is the domain's name.",
    )
    billing_cycle: BillingCycle | None = strawberry.field(
        default=None,
        description="How often the product is invoiced at `amount` (MONTHLY if not given); "
        "only with `productId`.",
    )


@strawberry.input(description="A quote to write, or to rewrite when `id` is given.")
class QuoteInput:
    id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The client's quote to rewrite (not accepted yet); null: a new one.",
    )
    lines: list[QuoteLineInput] = strawberry.field(description="Its lines, 1 to 100, in order.")
    valid_until: date = strawberry.field(description="The last day it may be accepted.")


@strawberry.type(description="The result of a quote mutation.")
class QuotePayload:
    quote: Quote | None = strawberry.field(
        default=None, description="The quote; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
