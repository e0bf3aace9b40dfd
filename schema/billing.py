"""Billing types and payloads: orders, services, addons, domains, invoices,
transactions and tax rules."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.auth.permissions import ContactPermission, StaffPermission
from domain.billing import models
from schema.access import require
from schema.common import UserError
from schema.connections import Connection
from schema.context import SchemaContext
from schema.ids import global_id
from schema.nesting import NESTED_LIST_CAP, capped
from schema.node import Node
from schema.people import Address

ItemKind = strawberry.enum(
    models.ItemKind, description="What an order item is: a SERVICE, an ADDON or a DOMAIN."
)
BillingCycle = strawberry.enum(
    models.BillingCycle, description="How often an item is invoiced; ONE_TIME: only once."
)
ServiceStatus = strawberry.enum(
    models.ServiceStatus,
    description="Status of a service or addon. ACTIVE and SUSPENDED ones are invoiced.",
)
DomainStatus = strawberry.enum(
    models.DomainStatus, description="Status of a domain. ACTIVE ones are invoiced."
)
InvoiceStatus = strawberry.enum(
    models.InvoiceStatus, description="UNPAID until covered by credit and payments, then PAID."
)
RefundKind = strawberry.enum(
    models.RefundKind,
    description="Where a refund's money went: back through the GATEWAY that took it, to the "
    "client's CREDIT, or returned by hand (MANUAL) and recorded.",
)
OrderStatus = strawberry.enum(
    models.OrderStatus, description="PENDING until staff accept it, then ACCEPTED."
)


# A service has a few addons: asked for by default at this many, a page of services with
# theirs stays within the query cost that 200 each would exceed.
SERVICE_ADDONS_DEFAULT = 10
AddonsFirst = Annotated[
    int,
    strawberry.argument(
        description=f"At most this many, 1–{NESTED_LIST_CAP}; {SERVICE_ADDONS_DEFAULT} by default."
    ),
]


@strawberry.type(description="A service or an addon: what is billed each cycle.")
class Service(Node):
    id: strawberry.ID = strawberry.field(description="The service's id.")
    # The row id behind `id`, for the loader of `addons`.
    pk: strawberry.Private[int]
    kind: models.ItemKind = strawberry.field(description="SERVICE, or ADDON for an addon.")
    name: str = strawberry.field(description="What it is, e.g. 'Shared hosting'.")
    amount: Decimal = strawberry.field(description="Price per billing cycle.")
    billing_cycle: models.BillingCycle = strawberry.field(description="How often it is invoiced.")
    status: models.ServiceStatus = strawberry.field(description="Where it stands.")
    payment_method: str | None = strawberry.field(description="The gateway it is paid with.")
    next_due_date: date | None = strawberry.field(
        description="Start of the next period to invoice; null once a one-time item is billed."
    )
    created_at: datetime = strawberry.field(description="When it was ordered.")
    service_id: strawberry.ID | None = strawberry.field(
        description="Of an addon: the service it is of (null: a free-standing addon)."
    )

    @strawberry.field(
        description="Of a service: its addons, oldest first (none for an addon). At most "
        f"`first` ({SERVICE_ADDONS_DEFAULT} by default, {NESTED_LIST_CAP} the cap)."
    )
    async def addons(
        self, info: Info[SchemaContext, None], first: AddonsFirst = SERVICE_ADDONS_DEFAULT
    ) -> list[Service]:
        await require(
            info, staff=StaffPermission.VIEW_CLIENTS, client_area=ContactPermission.PRODUCTS
        )
        if self.kind is models.ItemKind.ADDON:
            capped(first)
            return []
        rows = await info.context.loaders.addons_by_service.load((self.pk, capped(first), None))
        return [Service.build(row) for row in rows]

    @classmethod
    def build(cls, row: models.BillableItem) -> Service:
        return cls(
            id=global_id("Service", row.id),
            pk=row.id,
            service_id=global_id("Service", row.service_id) if row.service_id else None,
            kind=row.kind,
            name=row.name,
            amount=row.amount,
            billing_cycle=row.billing_cycle,
            status=models.ServiceStatus(row.status),
            payment_method=row.payment_method,
            next_due_date=row.next_due_date,
            created_at=row.created_at,
        )


@strawberry.type(description="A domain name registered or transferred for the client.")
class Domain(Node):
    id: strawberry.ID = strawberry.field(description="The domain's id.")
    name: str = strawberry.field(description="The domain name, e.g. example.com.")
    amount: Decimal = strawberry.field(description="Price per billing cycle.")
    billing_cycle: models.BillingCycle = strawberry.field(description="How often it is invoiced.")
    status: models.DomainStatus = strawberry.field(description="Where it stands.")
    payment_method: str | None = strawberry.field(description="The gateway it is paid with.")
    next_due_date: date | None = strawberry.field(
        description="Start of the next period to invoice."
    )
    expires_on: date | None = strawberry.field(
        description="When the period invoiced so far ends (its next due date): it expires "
        "then unless renewed."
    )
    auto_renew: bool = strawberry.field(
        description="Whether its renewal is invoiced (SPEC 9.5); the client chooses it."
    )
    created_at: datetime = strawberry.field(description="When it was ordered.")

    @classmethod
    def build(cls, row: models.BillableItem) -> Domain:
        return cls(
            id=global_id("Domain", row.id),
            name=row.name,
            amount=row.amount,
            billing_cycle=row.billing_cycle,
            status=models.DomainStatus(row.status),
            payment_method=row.payment_method,
            next_due_date=row.next_due_date,
            expires_on=row.next_due_date,
            auto_renew=row.auto_renew is not False,
            created_at=row.created_at,
        )


@strawberry.type(description="Who an invoice is addressed to, as it was when it was made.")
class BilledTo:
    name: str = strawberry.field(description="Name of the client or its billing contact.")
    company_name: str | None = strawberry.field(description="Company name, if any.")
    address: Address = strawberry.field(description="Postal address.")


@strawberry.type(description="A line of an invoice.")
class InvoiceItem:
    description: str = strawberry.field(description="What is billed, with the period.")
    amount: Decimal = strawberry.field(description="Amount before tax.")
    taxed: bool = strawberry.field(description="Whether tax applies to this line.")


@strawberry.type(description="An invoice: items, tax, credit applied, payments and balance.")
class Invoice(Node):
    id: strawberry.ID = strawberry.field(description="The invoice's id.")
    pk: strawberry.Private[int]
    number: int = strawberry.field(description="Invoice number, as quoted in 'Invoice #N'.")
    status: models.InvoiceStatus = strawberry.field(
        description="UNPAID, PAID, CANCELLED or REFUNDED."
    )
    issue_date: date = strawberry.field(description="When it was issued.")
    due_date: date = strawberry.field(description="When it is due.")
    subtotal: Decimal = strawberry.field(description="Sum of the items.")
    tax_rate: Decimal = strawberry.field(description="Tax percentage applied to taxed items.")
    tax: Decimal = strawberry.field(description="Tax on the taxed items.")
    total: Decimal = strawberry.field(description="Subtotal plus tax.")
    credit: Decimal = strawberry.field(description="Client credit applied to it.")
    amount_paid: Decimal = strawberry.field(description="What payments contributed to it.")
    balance: Decimal = strawberry.field(description="Still due: total − credit − payments.")
    payment_method: str | None = strawberry.field(description="The gateway it is paid with.")
    currency: str = strawberry.field(
        description="Currency code of its amounts: the one it was made in, kept (SPEC 13.4)."
    )
    billed_to: BilledTo = strawberry.field(description="Who it is addressed to (SPEC 2.5).")
    paid_at: datetime | None = strawberry.field(description="When it became PAID.")

    @strawberry.field(description="The invoice's lines.")
    async def items(self, info: Info[SchemaContext, None]) -> list[InvoiceItem]:
        rows = await info.context.loaders.invoice_items_by_invoice.load(self.pk)
        return [
            InvoiceItem(description=row.description, amount=row.amount, taxed=row.taxed)
            for row in rows
        ]

    @classmethod
    def build(cls, row: models.Invoice) -> Invoice:
        return cls(
            id=global_id("Invoice", row.id),
            pk=row.id,
            number=row.number,
            status=row.status,
            issue_date=row.issue_date,
            due_date=row.due_date,
            subtotal=row.subtotal,
            tax_rate=row.tax_rate,
            tax=row.tax,
            total=row.total,
            credit=row.credit,
            amount_paid=row.amount_paid,
            balance=row.balance,
            payment_method=row.payment_method,
            currency=row.currency,
            billed_to=BilledTo(
                name=row.billed_to.name,
                company_name=row.billed_to.company_name,
                address=Address.of(row.billed_to),
            ),
            paid_at=row.paid_at,
        )


@strawberry.type(
    description="A payment received, or a refund of one (a negative amount): an income "
    "record that outlives the client."
)
class Transaction(Node):
    id: strawberry.ID = strawberry.field(description="The transaction's id.")
    date: datetime = strawberry.field(description="When it was recorded.")
    gateway: str = strawberry.field(description="The payment gateway it came through.")
    transaction_id: str | None = strawberry.field(description="The gateway's reference.")
    amount: Decimal = strawberry.field(
        description="Amount received; negative for a refund (money given back)."
    )
    fees: Decimal = strawberry.field(description="Fees the gateway charged.")
    currency: str = strawberry.field(description="Currency code of the amount.")
    invoice_id: strawberry.ID | None = strawberry.field(description="The invoice it paid.")
    client_id: strawberry.ID = strawberry.field(
        description="The client it came from (kept when the client is deleted)."
    )
    client_name: str | None = strawberry.field(
        description="The client's name as it was when the client was deleted; null while "
        "the client exists (read it from the client)."
    )
    client_company_name: str | None = strawberry.field(
        description="The client's company as it was when the client was deleted; null "
        "while the client exists or when it had none."
    )
    refund_of: strawberry.ID | None = strawberry.field(
        description="Of a refund (a negative amount): the payment it returns; null for a payment."
    )
    refund_kind: models.RefundKind | None = strawberry.field(
        description="Of a refund: where the money went; null for a payment."
    )

    @classmethod
    def build(cls, row: models.Transaction) -> Transaction:
        return cls(
            id=global_id("Transaction", row.id),
            date=row.date,
            gateway=row.gateway,
            transaction_id=row.transaction_id,
            amount=row.amount,
            fees=row.fees,
            currency=row.currency,
            invoice_id=global_id("Invoice", row.invoice_id) if row.invoice_id else None,
            client_id=global_id("Client", row.client_id),
            client_name=row.client_name,
            client_company_name=row.client_company_name,
            refund_of=global_id("Transaction", row.refund_of) if row.refund_of else None,
            refund_kind=row.refund_kind,
        )


@strawberry.type(description="A page of transactions, newest first.")
class TransactionConnection(Connection[Transaction]):
    pass


@strawberry.type(description="An item of an order.")
class OrderItem:
    kind: models.ItemKind = strawberry.field(description="SERVICE, ADDON or DOMAIN.")
    id: strawberry.ID = strawberry.field(
        description="The service's (services and addons) or domain's id."
    )
    name: str = strawberry.field(description="What was ordered.")
    status: str = strawberry.field(description="Its service or domain status.")


@strawberry.type(description="An order: its items start PENDING, with their first invoice.")
class Order(Node):
    id: strawberry.ID = strawberry.field(description="The order's id.")
    status: models.OrderStatus = strawberry.field(description="PENDING or ACCEPTED.")
    currency: str = strawberry.field(description="The currency it was placed in (SPEC 1.6).")
    payment_method: str | None = strawberry.field(description="The gateway it is paid with.")
    created_at: datetime = strawberry.field(description="When it was placed.")
    items: list[OrderItem] = strawberry.field(description="What was ordered.")
    invoice: Invoice | None = strawberry.field(description="The invoice of its first period.")

    @classmethod
    def build(cls, row: models.Order, invoice: models.Invoice | None) -> Order:
        return cls(
            id=global_id("Order", row.id),
            status=row.status,
            currency=row.currency,
            payment_method=row.payment_method,
            created_at=row.created_at,
            items=[
                OrderItem(
                    kind=item.kind,
                    id=global_id(
                        "Domain" if item.kind is models.ItemKind.DOMAIN else "Service", item.id
                    ),
                    name=item.name,
                    status=item.status,
                )
                for item in row.items
            ],
            invoice=Invoice.build(invoice) if invoice else None,
        )


@strawberry.type(description="A tax rate for a country, or for one state of it.")
class TaxRule(Node):
    id: strawberry.ID = strawberry.field(description="The rule's id.")
    country: str = strawberry.field(description="ISO 3166 alpha-2 country code.")
    state: str | None = strawberry.field(description="The state it is for; null: the country.")
    name: str = strawberry.field(description="Name shown for the tax, e.g. VAT.")
    rate: Decimal = strawberry.field(description="Percentage with up to two places, e.g. 20.00.")

    @classmethod
    def build(cls, row: models.TaxRule) -> TaxRule:
        return cls(
            id=global_id("TaxRule", row.id),
            country=row.country,
            state=row.state or None,
            name=row.name,
            rate=row.rate,
        )


@strawberry.type(description="The result of an order mutation.")
class OrderPayload:
    order: Order | None = strawberry.field(
        default=None, description="The order; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type(description="The result of changing a service's or addon's status.")
class ServicePayload:
    service: Service | None = strawberry.field(
        default=None, description="The service; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type(description="The result of changing a domain's status.")
class DomainPayload:
    domain: Domain | None = strawberry.field(
        default=None, description="The domain; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type(description="The result of an invoice mutation.")
class InvoicePayload:
    invoice: Invoice | None = strawberry.field(
        default=None, description="The invoice; null when refused."
    )
    transaction: Transaction | None = strawberry.field(
        default=None, description="The payment recorded, for recordPayment and payInvoice."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type(description="The result of a tax rule mutation.")
class TaxRulePayload:
    tax_rule: TaxRule | None = strawberry.field(
        default=None, description="The rule; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
