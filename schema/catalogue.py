"""Catalogue types, inputs and payloads: product groups, products and their prices, and
cancellation requests (SPEC 14)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry

from domain.billing import models as billing_models
from domain.catalogue import models
from schema.common import UserError
from schema.connections import Connection, total_count_field, total_count_is_estimate_field
from schema.ids import global_id
from schema.node import Node

CancellationType = strawberry.enum(
    models.CancellationType,
    description="IMMEDIATE: cancelled by the next daily run; END_OF_BILLING_PERIOD: when the "
    "period invoiced so far ends.",
)
CancellationStatus = strawberry.enum(
    models.CancellationStatus,
    description="PENDING until the daily run carries it out, then DONE.",
)


@strawberry.type(description="A group of products, as the catalogue shows them together.")
class ProductGroup(Node):
    id: strawberry.ID = strawberry.field(description="The group's id.")
    name: str = strawberry.field(description="Its name, e.g. 'Shared hosting'.")
    created_at: datetime = strawberry.field(description="When it was added.")

    @classmethod
    def build(cls, row: models.ProductGroup) -> ProductGroup:
        return cls(id=global_id("ProductGroup", row.id), name=row.name, created_at=row.created_at)


@strawberry.type(description="A product's price for one billing cycle in one currency.")
class ProductPrice:
    currency: str = strawberry.field(description="Currency code of the amounts.")
    cycle: billing_models.BillingCycle = strawberry.field(description="The billing cycle.")
    amount: Decimal = strawberry.field(
        description="Price per cycle; of a domain, its registration price for the period."
    )
    setup_fee: Decimal = strawberry.field(description="Charged once, on the first invoice.")
    transfer_amount: Decimal | None = strawberry.field(
        description="Of a domain: the price of transferring it in; null for other products."
    )
    renew_amount: Decimal | None = strawberry.field(
        description="Of a domain: what each renewal costs; null for other products."
    )

    @classmethod
    def build(cls, row: models.ProductPrice) -> ProductPrice:
        return cls(
            currency=row.currency,
            cycle=row.cycle,
            amount=row.amount,
            setup_fee=row.setup_fee,
            transfer_amount=row.transfer_amount,
            renew_amount=row.renew_amount,
        )


@strawberry.type(description="A product of the catalogue: a service, an addon or a domain TLD.")
class Product(Node):
    id: strawberry.ID = strawberry.field(description="The product's id.")
    kind: billing_models.ItemKind = strawberry.field(
        description="SERVICE, ADDON (of a service product) or DOMAIN (a TLD)."
    )
    name: str = strawberry.field(description="Its name; of a DOMAIN, the TLD, e.g. '.com'.")
    description: str = strawberry.field(description="What it is, for the order form.")
    group_id: strawberry.ID | None = strawberry.field(description="Its group, if any.")
    addon_of: strawberry.ID | None = strawberry.field(
        description="Of an ADDON: the service product it is an addon of."
    )
    hidden: bool = strawberry.field(description="Hidden from clients (staff still sell it).")
    created_at: datetime = strawberry.field(description="When it was added.")
    pricing: list[ProductPrice] = strawberry.field(
        description="Its prices, by currency then cycle; only what is listed can be ordered."
    )

    @classmethod
    def build(cls, row: models.Product) -> Product:
        return cls(
            id=global_id("Product", row.id),
            kind=row.kind,
            name=row.name,
            description=row.description,
            group_id=global_id("ProductGroup", row.group_id) if row.group_id else None,
            addon_of=global_id("Product", row.addon_of) if row.addon_of else None,
            hidden=row.hidden,
            created_at=row.created_at,
            pricing=[ProductPrice.build(price) for price in row.pricing],
        )


@strawberry.type(description="A page of the catalogue, in the order products were added.")
class ProductConnection(Connection[Product]):
    total_count: int = total_count_field("How many products the list has")
    total_count_is_estimate: bool = total_count_is_estimate_field("products")


@strawberry.type(
    description="A client's request to cancel one of its services, or an addon alone (SPEC 14.2)."
)
class CancellationRequest(Node):
    id: strawberry.ID = strawberry.field(description="The request's id.")
    service_id: strawberry.ID = strawberry.field(
        description="The service, or the addon (a Service id too), to cancel."
    )
    service_name: str = strawberry.field(description="The service's (or addon's) name.")
    client_id: strawberry.ID = strawberry.field(description="The client it belongs to.")
    type: models.CancellationType = strawberry.field(description="When it is to happen.")
    reason: str = strawberry.field(description="Why the client asked.")
    status: models.CancellationStatus = strawberry.field(description="PENDING or DONE.")
    due_date: date = strawberry.field(
        description="The date the daily run cancels the item on (or after)."
    )
    created_at: datetime = strawberry.field(description="When it was asked for.")
    carried_out_at: datetime | None = strawberry.field(
        description="When the daily run carried it out; null while pending."
    )

    @classmethod
    def build(cls, row: models.CancellationRequest) -> CancellationRequest:
        return cls(
            id=global_id("CancellationRequest", row.id),
            service_id=global_id("Service", row.service_id),
            service_name=row.service_name,
            client_id=global_id("Client", row.client_id),
            type=row.type,
            reason=row.reason,
            status=row.status,
            due_date=row.due_date,
            created_at=row.created_at,
            carried_out_at=row.carried_out_at,
        )


@strawberry.type(description="A page of cancellation requests, newest first.")
class CancellationRequestConnection(Connection[CancellationRequest]):
    total_count: int = total_count_field("How many requests the list has")
    total_count_is_estimate: bool = total_count_is_estimate_field("requests")


@strawberry.input(description="A price of a product.")
class ProductPriceInput:
    currency: str = strawberry.field(description="Currency code, one of the installation's.")
    cycle: billing_models.BillingCycle = strawberry.field(description="The billing cycle.")
    amount: Decimal = strawberry.field(
        description="Price per cycle, 0 or more; of a domain, its registration price."
    )
    setup_fee: Decimal = strawberry.field(
        default=Decimal("0.00"), description="Charged once, on the first invoice."
    )
    transfer_amount: Decimal | None = strawberry.field(
        default=None, description="Of a domain (required there): the transfer price."
    )
    renew_amount: Decimal | None = strawberry.field(
        default=None, description="Of a domain (required there): the renewal price."
    )


@strawberry.input(description="A product to add (no id) or to replace.")
class ProductInput:
    id: strawberry.ID | None = strawberry.field(
        default=None, description="The product to change; omitted: a new one."
    )
    name: str = strawberry.field(description="Its name; of a DOMAIN, the TLD.")
    kind: billing_models.ItemKind = strawberry.field(
        description="SERVICE, ADDON or DOMAIN; a product keeps its kind."
    )
    description: str | None = strawberry.field(default=None, description="What it is.")
    group_id: strawberry.ID | None = strawberry.field(default=None, description="Its group.")
    addon_of: strawberry.ID | None = strawberry.field(
        default=None, description="Of an ADDON (required there): its service product."
    )
    hidden: bool = strawberry.field(default=False, description="Hide it from clients.")
    pricing: list[ProductPriceInput] = strawberry.field(
        default_factory=list, description="Every price it has (replacing those it had)."
    )


@strawberry.input(description="A product group to add (no id) or rename.")
class ProductGroupInput:
    id: strawberry.ID | None = strawberry.field(
        default=None, description="The group to rename; omitted: a new one."
    )
    name: str = strawberry.field(description="Its name.")


@strawberry.input(description="A product to order from the client area.")
class MyOrderItemInput:
    product_id: strawberry.ID = strawberry.field(description="A visible product's id.")
    billing_cycle: billing_models.BillingCycle = strawberry.field(
        default=billing_models.BillingCycle.MONTHLY,
        description="One of the cycles it has a price for in the client's currency.",
    )
    domain: str | None = strawberry.field(
        default=None, description="Of a DOMAIN product (required there): the domain name."
    )
    transfer: bool = strawberry.field(
        default=False, description="Of a DOMAIN product: transfer it in rather than register."
    )
    service_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Of an ADDON product (required there): my service it is for, one of the "
        "product it is an addon of.",
    )


@strawberry.input(description="An order placed by the client from the catalogue.")
class MyOrderInput:
    items: list[MyOrderItemInput] = strawberry.field(description="What is ordered (1–100).")
    payment_method: str | None = strawberry.field(
        default=None, description="Payment gateway; the client's default when omitted."
    )


@strawberry.type(description="The result of saving a product.")
class ProductPayload:
    product: Product | None = strawberry.field(
        default=None, description="The product; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type(description="The result of saving a product group.")
class ProductGroupPayload:
    group: ProductGroup | None = strawberry.field(
        default=None, description="The group; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type(description="The result of asking to cancel a service or an addon.")
class CancellationPayload:
    request: CancellationRequest | None = strawberry.field(
        default=None, description="The request; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
