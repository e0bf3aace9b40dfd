"""Stripe's asynchronous outcomes (SPEC 13.6), from its webhook's events, each recorded once.

- `payment_intent.succeeded`: a payment Stripe confirmed after our capture stopped waiting
  (processing, or our process died before recording it) is recorded on the invoice its
  metadata names; one already recorded (the usual case) changes nothing.
- `payment_intent.payment_failed`: audited for staff; the invoice stays unpaid.
- `charge.refunded`: a refund made at Stripe (its dashboard) becomes a refund transaction of
  the payment, as if made here; those we made ourselves are known by their ids.

An event id is stored in the same transaction as what it records: a replay is a no-op, and
an event whose recording failed is recorded when Stripe sends it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import asyncpg

from domain import audit
from domain.billing.gateway_protocol import RefundResult
from domain.billing.payments import record_payment
from domain.billing.refunds import refund_transaction
from domain.billing.stripe_gateway import StripeGateway, from_minor_units

GATEWAY = StripeGateway.name


async def record_event(
    conn: asyncpg.Connection, event: Mapping[str, Any], *, client_area_url: str
) -> bool:
    """Record a verified event; False when it was recorded before (nothing changes)."""
    async with conn.transaction():
        fresh = await conn.fetchval(
            """INSERT INTO gateway_events (gateway, event_id, type) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING true""",
            GATEWAY,
            event["id"],
            event["type"],
        )
        if not fresh:
            return False
        subject: Mapping[str, Any] = event["data"]["object"]
        if event["type"] == "payment_intent.succeeded":
            await _payment_succeeded(conn, subject, client_area_url)
        elif event["type"] == "payment_intent.payment_failed":
            await _payment_failed(conn, subject)
        elif event["type"] == "charge.refunded":
            await _charge_refunded(conn, subject)
        return True


async def _our_invoice(
    conn: asyncpg.Connection, intent: Mapping[str, Any]
) -> asyncpg.Record | None:
    """The invoice a PaymentIntent of ours pays, locked (a capture recording it at the same
    time finishes first); None for intents made elsewhere on the account."""
    invoice_id = (intent.get("metadata") or {}).get("invoice_id", "")
    if not str(invoice_id).isdigit():
        return None
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT id, client_id, currency FROM invoices WHERE id = $1 FOR UPDATE", int(invoice_id)
    )
    return row


async def _payment_succeeded(
    conn: asyncpg.Connection, intent: Mapping[str, Any], client_area_url: str
) -> None:
    invoice = await _our_invoice(conn, intent)
    if invoice is None or invoice["currency"].lower() != intent["currency"]:
        return
    known = await conn.fetchval(
        "SELECT 1 FROM transactions WHERE gateway = $1 AND transaction_id = $2",
        GATEWAY,
        intent["id"],
    )
    if known:
        return
    received = intent.get("amount_received") or intent["amount"]
    await record_payment(
        conn,
        invoice["id"],
        amount=from_minor_units(received, invoice["currency"]),
        gateway=GATEWAY,
        transaction_id=intent["id"],
        staff_id=None,
        client_area_url=client_area_url,
    )


async def _payment_failed(conn: asyncpg.Connection, intent: Mapping[str, Any]) -> None:
    invoice = await _our_invoice(conn, intent)
    if invoice is None:
        return
    error = intent.get("last_payment_error") or {}
    await audit.record(
        conn,
        staff_id=None,
        action="payment.failed",
        client_id=invoice["client_id"],
        changes={
            "invoice_id": invoice["id"],
            "gateway": GATEWAY,
            "transaction_id": intent["id"],
            "message": error.get("message") or "The payment failed.",
        },
    )


class _RefundedAtStripe:
    """Stands for Stripe in `refund_transaction` when Stripe has refunded already: it answers
    the refund Stripe made, so that it is recorded like any other, and calls nothing."""

    name = GATEWAY

    def __init__(self, refund_id: str) -> None:
        self._refund_id = refund_id

    async def refund(
        self, *, transaction_id: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> RefundResult:
        return RefundResult(approved=True, refund_id=self._refund_id)


async def _charge_refunded(conn: asyncpg.Connection, charge: Mapping[str, Any]) -> None:
    payment = await conn.fetchrow(
        """SELECT id, currency FROM transactions
            WHERE gateway = $1 AND transaction_id = $2 AND refund_of IS NULL""",
        GATEWAY,
        charge.get("payment_intent"),
    )
    if payment is None:
        return
    for refund in (charge.get("refunds") or {}).get("data", []):
        if refund.get("status") not in (None, "succeeded", "pending"):
            continue
        known = await conn.fetchval(
            "SELECT 1 FROM transactions WHERE gateway = $1 AND transaction_id = $2",
            GATEWAY,
            refund["id"],
        )
        if known:
            continue
        await refund_transaction(
            conn,
            payment["id"],
            amount=from_minor_units(refund["amount"], payment["currency"]),
            to_credit=False,
            gateways={GATEWAY: _RefundedAtStripe(refund["id"])},  # type: ignore[dict-item]
            staff_id=None,
        )
