"""Root mutations of money in and out (SPEC 13.2, 13.3): a client pays its invoice, staff
apply credit, refund payments and cancel unpaid invoices."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth.permissions import ContactPermission, StaffPermission
from domain.auth.viewer import Viewer
from domain.billing import client_payments, credit_use, refunds
from resolvers.billing import IdempotencyKey
from resolvers.context import Context
from resolvers.inputs import existing_id
from resolvers.mutation import perform
from resolvers.permissions import client_area, staff
from schema.billing import Invoice, InvoicePayload, Transaction
from schema.payments import RefundPayload

InvoiceId = Annotated[strawberry.ID, strawberry.argument(description="The invoice's id.")]


async def pay_invoice(
    info: Info[Context, None],
    invoice_id: InvoiceId,
    # Named apart from its GraphQL name: Strawberry's field extensions take `source` (the
    # parent object) themselves.
    paid_from: Annotated[
        client_payments.PaymentSource,
        strawberry.argument(name="source", description="What to pay from."),
    ],
    idempotency_key: IdempotencyKey = None,
) -> InvoicePayload:
    services = info.context.services

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> InvoicePayload:
        assert viewer.client_id is not None  # a client-area viewer
        invoice, transaction = await client_payments.pay_invoice(
            conn,
            # Another client's invoice is not found, as if it did not exist.
            existing_id(invoice_id, "Invoice", "invoiceId"),
            client_id=viewer.client_id,
            source=paid_from,
            gateways=services.gateways,
            card_keyring=services.card_keyring,
            client_area_url=services.client_area_url,
            login_id=viewer.login_id,
            idempotency_key=idempotency_key,
        )
        return InvoicePayload(
            invoice=Invoice.build(invoice),
            transaction=Transaction.build(transaction) if transaction else None,
        )

    return await perform(info, work, InvoicePayload)


async def apply_credit(
    info: Info[Context, None],
    invoice_id: InvoiceId,
    amount: Annotated[
        Decimal,
        strawberry.argument(
            description="A positive amount, at most the invoice's balance and the credit."
        ),
    ],
    idempotency_key: IdempotencyKey = None,
) -> InvoicePayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> InvoicePayload:
        invoice = await credit_use.apply_credit(
            conn,
            existing_id(invoice_id, "Invoice", "invoiceId"),
            amount=amount,
            client_id=None,
            staff_id=viewer.staff_id,
            login_id=viewer.login_id,
            idempotency_key=idempotency_key,
        )
        return InvoicePayload(invoice=Invoice.build(invoice))

    return await perform(info, work, InvoicePayload)


async def refund_transaction(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The payment's id.")],
    amount: Annotated[
        Decimal | None,
        strawberry.argument(description="How much to refund; null: all that is left of it."),
    ] = None,
    to_credit: Annotated[
        bool,
        strawberry.argument(
            description="Give it to the client's credit instead of back to where it came from."
        ),
    ] = False,
    idempotency_key: IdempotencyKey = None,
) -> RefundPayload:
    gateways = info.context.services.gateways

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> RefundPayload:
        done = await refunds.refund_transaction(
            conn,
            existing_id(id, "Transaction"),
            amount=amount,
            to_credit=to_credit,
            gateways=gateways,
            staff_id=viewer.staff_id,
            login_id=viewer.login_id,
            idempotency_key=idempotency_key,
        )
        return RefundPayload(
            refund=Transaction.build(done.refund),
            transaction=Transaction.build(done.transaction),
            invoice=Invoice.build(done.invoice) if done.invoice else None,
        )

    return await perform(info, work, RefundPayload)


async def cancel_invoice(
    info: Info[Context, None], id: InvoiceId, idempotency_key: IdempotencyKey = None
) -> InvoicePayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> InvoicePayload:
        invoice = await credit_use.cancel_invoice(
            conn,
            existing_id(id, "Invoice"),
            staff_id=viewer.staff_id,
            login_id=viewer.login_id,
            idempotency_key=idempotency_key,
        )
        return InvoicePayload(invoice=Invoice.build(invoice))

    return await perform(info, work, InvoicePayload)


@strawberry.type(description="Root fields of payments and refunds: what can be changed.")
class Mutations:
    pay_invoice: InvoicePayload = strawberry.field(
        resolver=pay_invoice,
        extensions=client_area(ContactPermission.INVOICES),
        description="Pay one of the client's own unpaid invoices (client area: the account "
        "holder, or a sub-account with INVOICES; SPEC 13.2): CREDIT applies as much as the "
        "balance and the credit allow; STORED_CARD charges the stored card through the "
        "invoice's merchant gateway, unless card processing is disabled for the client. A "
        "decline leaves it unpaid, with the gateway's message (PAYMENT_DECLINED).",
    )
    apply_credit: InvoicePayload = strawberry.field(
        resolver=apply_credit,
        extensions=staff(StaffPermission.MANAGE_BILLING),
        description="Spend some of a client's credit on its unpaid invoice: at most the "
        "balance and the credit (SPEC 3.5); PAID once nothing is left to pay.",
    )
    refund_transaction: RefundPayload = strawberry.field(
        resolver=refund_transaction,
        extensions=staff(StaffPermission.MANAGE_BILLING),
        description="Refund (part of) a payment (SPEC 13.3): through its gateway when it can "
        "refund, to the client's credit (toCredit), or recorded as returned by hand (manual "
        "gateways). Never more than was paid; a fully refunded invoice is REFUNDED; audited.",
    )
    cancel_invoice: InvoicePayload = strawberry.field(
        resolver=cancel_invoice,
        extensions=staff(StaffPermission.MANAGE_BILLING),
        description="Cancel an unpaid invoice without payments (SPEC 13.3): it becomes "
        "CANCELLED and the credit applied to it returns to the balance; audited.",
    )
