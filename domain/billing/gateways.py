"""The merchant gateways an installation loads, and capture of card invoices through them
(SPEC 1.5, 9.5, 13.1).

The caller says which card a client pays with (`card_for`): the daily automation uses the
stored card (SPEC 4, 9.5).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from domain.billing.gateway_protocol import CaptureResult, CardOnFile, PaymentGateway
from domain.billing.invoices import get_invoice
from domain.billing.payments import (
    TRANSACTION_COLUMNS,
    Payment,
    record_payment,
    transaction_from_row,
)
from domain.billing.stripe_gateway import StripeConfig, StripeGateway
from domain.billing.testcard import TestCardGateway

# The merchant gateway plug-ins the project ships, by the name of their payment_gateways row.
MERCHANT_PLUGINS: dict[str, type[PaymentGateway]] = {
    TestCardGateway.name: TestCardGateway,
    StripeGateway.name: StripeGateway,
}
# Approve any valid card number: never loaded, nor enabled, with ENVIRONMENT=production
# (SPEC 13.1), where they would record fake card payments as real.
TEST_GATEWAYS = frozenset({TestCardGateway.name})


def loaded_gateways(
    *, production: bool, stripe: StripeConfig | None = None
) -> dict[str, PaymentGateway]:
    """The merchant gateways an installation captures with: the test one except in
    production, Stripe when it is configured; whether each is on is still its
    payment_gateways row's say."""
    gateways: dict[str, PaymentGateway] = {}
    if not production:
        gateways[TestCardGateway.name] = TestCardGateway()
    if stripe is not None:
        gateways[StripeGateway.name] = StripeGateway(stripe)
    return gateways


@dataclass(frozen=True)
class CaptureSummary:
    captured: list[int]
    declined: list[int]
    skipped: list[int]


async def capture_due_invoices(
    conn: asyncpg.Connection,
    *,
    as_of: date,
    gateways: Mapping[str, PaymentGateway],
    card_for: Callable[[int], Awaitable[CardOnFile | None]],
    client_area_url: str,
) -> CaptureSummary:
    """Capture unpaid invoices due by `as_of` whose payment method is a merchant gateway,
    except those of clients with `ccProcessingDisabled` (they pay them by hand, SPEC 1.5).

    Each capture is its own transaction: a gateway call must not hold database locks, and
    one declined card must not undo the payments recorded before it."""
    due = await conn.fetch(
        """SELECT i.id, i.client_id, i.number, i.balance, i.payment_method, i.currency
             FROM invoices i
             JOIN clients c ON c.id = i.client_id
             JOIN payment_gateways g ON g.name = i.payment_method
            WHERE i.status = 'UNPAID' AND i.due_date <= $1 AND i.balance > 0
              AND g.kind = 'MERCHANT' AND g.enabled AND NOT c.cc_processing_disabled
            ORDER BY i.id""",
        as_of,
    )
    summary = CaptureSummary(captured=[], declined=[], skipped=[])
    for invoice in due:
        gateway = gateways.get(invoice["payment_method"])
        card = await card_for(invoice["client_id"])
        if gateway is None or card is None:
            summary.skipped.append(invoice["id"])
            continue
        # One attempt a day per invoice: a run retried after a crash between the capture and
        # its commit gets the same charge back from the gateway, not a second one.
        key = f"capture-invoice-{invoice['id']}-{as_of.isoformat()}"
        payment = await capture_invoice(
            conn, invoice, gateway, card, idempotency_key=key, client_area_url=client_area_url
        )
        captured = isinstance(payment, Payment)
        (summary.captured if captured else summary.declined).append(invoice["id"])
    return summary


async def capture_invoice(
    conn: asyncpg.Connection,
    invoice: Mapping[str, Any],
    gateway: PaymentGateway,
    card: CardOnFile,
    *,
    idempotency_key: str,
    client_area_url: str,
    login_id: int | None = None,
) -> Payment | CaptureResult:
    """Capture `invoice`'s balance (its id, number, balance, currency) with `card` and
    record the payment; the gateway's refusal (a CaptureResult) when it declines. The
    gateway is called outside any transaction: no locks are held while it answers."""
    result = await gateway.capture(
        amount=invoice["balance"],
        currency=invoice["currency"],
        card=card,
        description=f"Invoice #{invoice['number']}",
        invoice_id=invoice["id"],
        idempotency_key=idempotency_key,
    )
    if not result.approved:
        return result
    async with conn.transaction():
        # The same charge may be recorded already: by Stripe's webhook, which can confirm it
        # before we do, or by a retry with the same key, answered the first charge. The
        # invoice lock orders the two (the webhook takes it too); the charge counts once.
        await conn.execute("SELECT 1 FROM invoices WHERE id = $1 FOR UPDATE", invoice["id"])
        known = await conn.fetchrow(
            f"""SELECT {TRANSACTION_COLUMNS} FROM transactions
                 WHERE gateway = $1 AND transaction_id = $2 AND refund_of IS NULL""",
            gateway.name,
            result.transaction_id,
        )
        if known is not None:
            paid = await get_invoice(conn, invoice["id"])
            assert paid is not None
            return Payment(invoice=paid, transaction=transaction_from_row(known))
        return await record_payment(
            conn,
            invoice["id"],
            amount=invoice["balance"],
            gateway=gateway.name,
            transaction_id=result.transaction_id,
            fees=result.fees,
            staff_id=None,
            client_area_url=client_area_url,
            login_id=login_id,
            idempotency_key=idempotency_key if login_id is not None else None,
        )
