"""Payment and refund types (SPEC 13.2, 13.3): what a client pays from, where a refund's
money went, and the refund payload."""

from __future__ import annotations

import strawberry

from domain.billing import client_payments
from schema.billing import Invoice, Transaction
from schema.common import UserError

PaymentSource = strawberry.enum(
    client_payments.PaymentSource,
    description="What a client pays an invoice from: its CREDIT balance (at most the "
    "invoice's balance), or its STORED_CARD through the invoice's merchant gateway.",
)


@strawberry.type(description="The result of refundTransaction.")
class RefundPayload:
    refund: Transaction | None = strawberry.field(
        default=None,
        description="The refund: a transaction of its own, with a negative amount, linked to "
        "the payment by refundOf; null when refused.",
    )
    transaction: Transaction | None = strawberry.field(
        default=None, description="The payment refunded; null when refused."
    )
    invoice: Invoice | None = strawberry.field(
        default=None,
        description="The payment's invoice after the refund (REFUNDED once nothing paid on "
        "it is left); null when refused or when the invoice is gone.",
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
