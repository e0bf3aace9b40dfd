"""Root queries and mutations of billing: orders, service and domain status, invoices,
payments, the client's payment method, tax rules (SPEC 1.5, 1.6, 3.4, 3.5, 9.5)."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth.permissions import StaffPermission
from domain.auth.viewer import Viewer
from domain.billing import invoices, items, models, orders, payments, tax
from domain.billing.models import DomainStatus, ServiceStatus
from domain.clients import services as client_services
from domain.clients.services import ClientUpdate
from resolvers.clients import present_update
from resolvers.context import Context
from resolvers.inputs import existing_id, parse_id
from resolvers.mutation import perform
from resolvers.pagination import (
    After,
    Before,
    ClientFilter,
    First,
    Last,
    client_list,
)
from resolvers.permissions import staff
from schema.billing import (
    Domain,
    DomainPayload,
    Invoice,
    InvoicePayload,
    Order,
    OrderPayload,
    Service,
    ServicePayload,
    TaxRule,
    TaxRulePayload,
    Transaction,
    TransactionConnection,
)
from schema.billing_inputs import InvoiceInput, OrderInput, TaxRuleInput
from schema.clients import ClientPayload
from schema.common import OkPayload

IdempotencyKey = Annotated[
    str | None,
    strawberry.argument(
        description="Any unique string (e.g. a UUID). A retry with the same key and arguments "
        "returns the first result and changes nothing again; other arguments are refused."
    ),
]


def service_of(service_id: str | None) -> dict[str, int]:
    """An order item's `service_id`, when it names one (an id of nothing: not found)."""
    if service_id is None:
        return {}
    return {"service_id": parse_id(service_id, "Service") or -1}


async def order_payload(conn: asyncpg.Connection, order: models.Order) -> OrderPayload:
    invoice = await invoices.get_invoice(conn, order.invoice_id) if order.invoice_id else None
    return OrderPayload(order=Order.build(order, invoice))


async def place_order(
    info: Info[Context, None],
    client_id: Annotated[strawberry.ID, strawberry.argument(description="The client's id.")],
    input: Annotated[OrderInput, strawberry.argument(description="What is ordered.")],
    idempotency_key: IdempotencyKey = None,
) -> OrderPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> OrderPayload:
        order = await orders.place_order(
            conn,
            existing_id(client_id, "Client", "client_id"),
            items=[
                {
                    "kind": item.kind,
                    "name": item.name,
                    "amount": item.amount,
                    "billing_cycle": item.billing_cycle,
                    **service_of(item.service_id),
                    # A product's domain is the item's name; an id of nothing is not found.
                    **(
                        {
                            "product_id": parse_id(item.product_id, "Product") or -1,
                            "domain": item.name,
                        }
                        if item.product_id is not None
                        else {}
                    ),
                }
                for item in input.items
            ],
            payment_method=input.payment_method,
            currency=input.currency,
            staff_id=viewer.staff_id,
            login_id=viewer.login_id,
            idempotency_key=idempotency_key,
        )
        return await order_payload(conn, order)

    return await perform(info, work, OrderPayload)


async def accept_order(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The order's id.")],
) -> OrderPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> OrderPayload:
        order = await orders.accept_order(
            conn,
            existing_id(id, "Order"),
            staff_id=viewer.staff_id,
            client_area_url=info.context.services.client_area_url,
        )
        return await order_payload(conn, order)

    return await perform(info, work, OrderPayload)


async def set_service_status(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="A service's or addon's id.")],
    status: Annotated[ServiceStatus, strawberry.argument(description="The new status.")],
) -> ServicePayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> ServicePayload:
        row = await items.set_service_status(
            conn,
            existing_id(id, "Service"),
            status,
            staff_id=viewer.staff_id,
            client_area_url=info.context.services.client_area_url,
        )
        return ServicePayload(service=Service.build(row))

    return await perform(info, work, ServicePayload)


async def set_domain_status(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The domain's id.")],
    status: Annotated[DomainStatus, strawberry.argument(description="The new status.")],
) -> DomainPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> DomainPayload:
        row = await items.set_domain_status(
            conn, existing_id(id, "Domain"), status, staff_id=viewer.staff_id
        )
        return DomainPayload(domain=Domain.build(row))

    return await perform(info, work, DomainPayload)


async def create_invoice(
    info: Info[Context, None],
    client_id: Annotated[strawberry.ID, strawberry.argument(description="The client's id.")],
    input: Annotated[InvoiceInput, strawberry.argument(description="The invoice.")],
    idempotency_key: IdempotencyKey = None,
) -> InvoicePayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> InvoicePayload:
        row = await invoices.create_invoice(
            conn,
            existing_id(client_id, "Client", "client_id"),
            items=[
                {"description": item.description, "amount": item.amount, "taxed": item.taxed}
                for item in input.items
            ],
            due_date=input.due_date,
            payment_method=input.payment_method,
            staff_id=viewer.staff_id,
            login_id=viewer.login_id,
            idempotency_key=idempotency_key,
        )
        return InvoicePayload(invoice=Invoice.build(row))

    return await perform(info, work, InvoicePayload)


async def record_payment(
    info: Info[Context, None],
    invoice_id: Annotated[strawberry.ID, strawberry.argument(description="The invoice's id.")],
    amount: Annotated[Decimal, strawberry.argument(description="The amount received.")],
    gateway: Annotated[str, strawberry.argument(description="The payment gateway's name.")],
    transaction_id: Annotated[
        str | None, strawberry.argument(description="The gateway's reference, if any.")
    ] = None,
    fees: Annotated[
        Decimal, strawberry.argument(description="Fees the gateway charged.")
    ] = Decimal("0.00"),
    idempotency_key: IdempotencyKey = None,
) -> InvoicePayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> InvoicePayload:
        payment = await payments.record_payment(
            conn,
            existing_id(invoice_id, "Invoice", "invoice_id"),
            amount=amount,
            gateway=gateway,
            transaction_id=transaction_id,
            fees=fees,
            staff_id=viewer.staff_id,
            login_id=viewer.login_id,
            idempotency_key=idempotency_key,
            client_area_url=info.context.services.client_area_url,
        )
        return InvoicePayload(
            invoice=Invoice.build(payment.invoice),
            transaction=Transaction.build(payment.transaction),
        )

    return await perform(info, work, InvoicePayload)


async def set_client_payment_method(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The client's id.")],
    payment_method: Annotated[
        str, strawberry.argument(description="Name of an enabled payment gateway.")
    ],
) -> ClientPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> ClientUpdate:
        return await client_services.set_client_payment_method(
            conn, existing_id(id, "Client"), payment_method, staff_id=viewer.staff_id
        )

    return await perform(
        info, work, ClientPayload, present=functools.partial(present_update, info.context)
    )


async def set_tax_rule(
    info: Info[Context, None],
    input: Annotated[TaxRuleInput, strawberry.argument(description="The rule.")],
) -> TaxRulePayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> TaxRulePayload:
        row = await tax.set_tax_rule(
            conn, country=input.country, state=input.state, name=input.name, rate=input.rate
        )
        return TaxRulePayload(tax_rule=TaxRule.build(row))

    return await perform(info, work, TaxRulePayload)


async def delete_tax_rule(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The rule's id.")],
) -> OkPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> OkPayload:
        await tax.delete_tax_rule(conn, existing_id(id, "TaxRule"))
        return OkPayload(ok=True)

    return await perform(info, work, OkPayload)


async def invoice(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The invoice's id.")],
) -> Invoice | None:
    invoice_id = parse_id(id, "Invoice")
    if invoice_id is None:
        return None
    async with info.context.connection() as conn:
        row = await invoices.get_invoice(conn, invoice_id)
    return Invoice.build(row) if row else None


# The key of the transactions list in its cursors.
TRANSACTIONS = "transactions"


async def transactions(
    info: Info[Context, None],
    client_id: ClientFilter = None,
    first: First = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
) -> TransactionConnection:
    return await client_list(
        info,
        TransactionConnection,
        TRANSACTIONS,
        payments.find_transactions,
        Transaction.build,
        client_id,
        first,
        after,
        last,
        before,
    )


async def tax_rules(info: Info[Context, None]) -> list[TaxRule]:
    async with info.context.connection() as conn:
        return [TaxRule.build(row) for row in await tax.tax_rules(conn)]


@strawberry.type(description="Root fields of billing: what can be read.")
class Queries:
    invoice: Invoice | None = strawberry.field(
        resolver=invoice,
        extensions=staff(StaffPermission.VIEW_CLIENTS),
        description="One invoice (staff).",
    )
    transactions: TransactionConnection = strawberry.field(
        resolver=transactions,
        extensions=staff(StaffPermission.VIEW_CLIENTS),
        description="Payments received, newest first, of all clients or one (staff).",
    )
    tax_rules: list[TaxRule] = strawberry.field(
        resolver=tax_rules,
        extensions=staff(StaffPermission.VIEW_CLIENTS),
        description="The tax rates per country and state (staff).",
    )


@strawberry.type(description="Root fields of billing: what can be changed.")
class Mutations:
    place_order: OrderPayload = strawberry.field(
        resolver=place_order,
        extensions=staff(StaffPermission.MANAGE_BILLING),
        description="Order services, addons and domains for a client: they start PENDING, "
        "and the invoice of their first period is created.",
    )
    accept_order: OrderPayload = strawberry.field(
        resolver=accept_order,
        extensions=staff(StaffPermission.MANAGE_BILLING),
        description="Accept a pending order: its items become ACTIVE.",
    )
    set_service_status: ServicePayload = strawberry.field(
        resolver=set_service_status,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="Set the status of a service or an addon.",
    )
    set_domain_status: DomainPayload = strawberry.field(
        resolver=set_domain_status,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="Set the status of a domain.",
    )
    create_invoice: InvoicePayload = strawberry.field(
        resolver=create_invoice,
        extensions=staff(StaffPermission.MANAGE_BILLING),
        description="A staff-made invoice with any due date; available credit is applied.",
    )
    record_payment: InvoicePayload = strawberry.field(
        resolver=record_payment,
        extensions=staff(StaffPermission.MANAGE_BILLING),
        description="Record a payment of an invoice; PAID once covered, the excess of an "
        "overpayment becomes credit (SPEC 3.4).",
    )
    set_client_payment_method: ClientPayload = strawberry.field(
        resolver=set_client_payment_method,
        extensions=staff(StaffPermission.MANAGE_BILLING),
        description="Set the client's payment method and that of all its services, addons, "
        "domains and unpaid invoices, in one transaction (SPEC 1.5).",
    )
    set_tax_rule: TaxRulePayload = strawberry.field(
        resolver=set_tax_rule,
        extensions=staff(StaffPermission.MANAGE_SETTINGS),
        description="Set the tax rate of a country or of one of its states.",
    )
    delete_tax_rule: OkPayload = strawberry.field(
        resolver=delete_tax_rule,
        extensions=staff(StaffPermission.MANAGE_SETTINGS),
        description="Remove a tax rule.",
    )
