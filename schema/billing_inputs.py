"""Billing inputs: orders (free-form or from the catalogue), staff-made invoices, tax rules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import strawberry

from domain.billing import models


@strawberry.input(
    description="An item to order: free-form (its name and amount), or a catalogue product "
    "(`productId`, priced in the order's currency)."
)
class OrderItemInput:
    kind: models.ItemKind = strawberry.field(
        description="SERVICE, ADDON or DOMAIN (of a product: the product's)."
    )
    name: str | None = strawberry.field(
        default=None,
        description="What it is (a domain: the domain name); required but for a product "
        "other than a DOMAIN.",
    )
    amount: Decimal | None = strawberry.field(
        default=None,
        description="Price per billing cycle, 0 or more; required without `productId`, "
        "ignored with it.",
    )
    billing_cycle: models.BillingCycle = strawberry.field(
        default=models.BillingCycle.MONTHLY, description="How often it is invoiced."
    )
    product_id: strawberry.ID | None = strawberry.field(
        default=None, description="A catalogue product (hidden ones too), priced from it."
    )
    service_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Of an ADDON: the client's service it is for (required for a catalogue "
        "addon, which must be of that service's product).",
    )


@strawberry.input(description="A catalogue-free order.")
class OrderInput:
    items: list[OrderItemInput] = strawberry.field(description="What is ordered (1–100).")
    payment_method: str | None = strawberry.field(
        default=None, description="Payment gateway; the client's default when omitted."
    )
    currency: str | None = strawberry.field(
        default=None,
        description="Currency code; only the client's first order may choose it (SPEC 1.6).",
    )


@strawberry.input(description="A line of a staff-made invoice.")
class InvoiceItemInput:
    description: str = strawberry.field(description="What is billed.")
    amount: Decimal = strawberry.field(description="A positive amount.")
    taxed: bool = strawberry.field(default=True, description="Whether tax applies.")


@strawberry.input(description="A staff-made invoice.")
class InvoiceInput:
    items: list[InvoiceItemInput] = strawberry.field(description="Its lines (1–200).")
    due_date: date | None = strawberry.field(
        default=None, description="Any date; today if omitted."
    )
    payment_method: str | None = strawberry.field(
        default=None, description="Payment gateway; the client's default when omitted."
    )


@strawberry.input(description="A tax rate for a country or one of its states.")
class TaxRuleInput:
    country: str = strawberry.field(description="ISO 3166 alpha-2 country code.")
    state: str | None = strawberry.field(
        default=None, description="A state of that country; omitted: the whole country."
    )
    name: str = strawberry.field(description="Name shown for the tax, e.g. VAT.")
    rate: Decimal = strawberry.field(
        description="Percentage above 0 and up to 100, at most two places."
    )
