"""Money back (SPEC 13.3): a refund of a payment, through its gateway when the gateway can
give money back, to the client's credit, or recorded as returned by hand.

A refund is a transaction of its own (migration 0039): a negative amount linked to the
payment by `refund_of`, so income, the dashboard's counters included, is still the sum of
the transactions. A payment's refunds come out of the part of it that became overpayment
credit first (taken back from the balance), then out of what it paid on the invoice (which
then owes it again; REFUNDED once nothing paid on it is left).

Refunds of one payment queue on its row lock, held until the refund is recorded: they never
add up to more than it was, however many run at once. The gateway is called last, under that
lock, so that nothing after its answer can refuse the refund and leave money returned but
not recorded; the lock is the payment's alone, and only its other refunds wait on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NoReturn, cast

import asyncpg

from domain import audit
from domain.affiliates.commissions import reverse_commission
from domain.billing.credit_use import lock_invoice
from domain.billing.gateway_protocol import PaymentGateway, RefundingGateway
from domain.billing.invoices import get_invoice, key_owner
from domain.billing.models import Invoice, InvoiceStatus, RefundKind, Transaction
from domain.billing.payments import TRANSACTION_COLUMNS, transaction_from_row
from domain.credit.ledger import record_entry
from domain.errors import DomainError, ErrorCode, NotFound
from domain.idempotency import idempotent
from domain.money import exact_decimal, parse_amount


@dataclass(frozen=True)
class Refund:
    refund: Transaction
    transaction: Transaction
    invoice: Invoice | None


async def refund_transaction(
    conn: asyncpg.Connection,
    transaction_id: int,
    *,
    amount: Decimal | str | None,
    to_credit: bool,
    gateways: Mapping[str, PaymentGateway],
    staff_id: int | None,
    login_id: int | None = None,
    idempotency_key: str | None = None,
) -> Refund:
    """Refund `amount` (None: all that is left) of a payment; to credit when `to_credit`.

    With an idempotency key (of `login_id`), a retry returns the first refund unchanged."""
    async with conn.transaction():
        done = await idempotent(
            conn,
            login_id=key_owner(login_id, idempotency_key),
            key=idempotency_key,
            operation="refundTransaction",
            arguments={
                "id": transaction_id,
                "amount": None if amount is None else exact_decimal(amount) or str(amount),
                "to_credit": to_credit,
            },
            perform=lambda: _refund(conn, transaction_id, amount, to_credit, gateways, staff_id),
        )
        rows = await conn.fetch(
            f"SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE id = ANY($1::bigint[])",
            [done["refund"], transaction_id],
        )
        found = {row["id"]: transaction_from_row(row) for row in rows}
        original = found[transaction_id]
        invoice = await get_invoice(conn, original.invoice_id) if original.invoice_id else None
        return Refund(refund=found[done["refund"]], transaction=original, invoice=invoice)


def _refuse(message: str, field: str = "amount", code: ErrorCode = ErrorCode.INVALID) -> NoReturn:
    raise DomainError.single(code, message, field)


async def _refund(
    conn: asyncpg.Connection,
    transaction_id: int,
    amount: Decimal | str | None,
    to_credit: bool,
    gateways: Mapping[str, PaymentGateway],
    staff_id: int | None,
) -> dict[str, Any]:
    wanted = None if amount is None else parse_amount(amount, "amount")
    payment = await conn.fetchrow(
        """SELECT t.*, g.kind FROM transactions t JOIN payment_gateways g ON g.name = t.gateway
            WHERE t.id = $1 FOR UPDATE OF t""",
        transaction_id,
    )
    if payment is None:
        raise NotFound("Transaction")
    if payment["refund_of"] is not None:
        _refuse("This is a refund; refund the payment it returned.", "id")
    done = await conn.fetchrow(
        """SELECT coalesce(-sum(amount), 0) AS amount, coalesce(sum(credited), 0) AS credited
             FROM transactions WHERE refund_of = $1""",
        transaction_id,
    )
    left: Decimal = payment["amount"] - done["amount"]
    credit_left: Decimal = payment["credited"] - done["credited"]
    paid_left = left - credit_left  # what it still pays on its invoice
    refunded = left if wanted is None else wanted
    if left <= 0:
        _refuse("This payment is refunded in full already.", "id")
    if refunded > left:
        _refuse(f"At most {left} {payment['currency']} of this payment is left to refund.")
    # To credit, only what it paid on the invoice: its overpayment is credit already.
    from_credit = Decimal(0) if to_credit else min(refunded, credit_left)
    from_invoice = refunded - from_credit
    if from_invoice > paid_left:
        _refuse(
            f"{paid_left} {payment['currency']} of this payment is paid on its invoice; the "
            "rest is credit already."
        )
    invoice = None
    if payment["invoice_id"] is not None:
        invoice = await lock_invoice(conn, payment["invoice_id"], client_id=None, field="id")
    credit_change = (refunded if to_credit else Decimal(0)) - from_credit
    if credit_change:
        currency = await conn.fetchval(
            "SELECT currency FROM clients WHERE id = $1", payment["client_id"]
        )
        if currency != payment["currency"]:
            _refuse(
                f"The client's credit is in {currency}; this payment was in {payment['currency']}.",
                "toCredit",
                ErrorCode.CURRENCY_IN_USE,
            )
    # Fully refunded: a PAID invoice with nothing paid on it left.
    fully = (
        invoice is not None
        and invoice["status"] == InvoiceStatus.PAID
        and invoice["amount_paid"] == from_invoice > 0
    )
    if invoice is not None and from_invoice > 0:
        await conn.execute(
            """UPDATE invoices SET amount_paid = amount_paid - $2,
                      status = CASE WHEN $3 THEN 'REFUNDED' ELSE status END
                WHERE id = $1""",
            invoice["id"],
            from_invoice,
            fully,
        )
        # Money paid on the invoice goes back: it no longer earns its affiliate anything.
        await reverse_commission(conn, invoice["id"])
    number = f"Invoice #{invoice['number']}" if invoice is not None else "a deleted invoice"
    if credit_change:
        await record_entry(
            conn,
            client_id=payment["client_id"],
            amount=credit_change,
            description=f"Refund of {number} to credit"
            if to_credit
            else f"Overpayment of {number} refunded",
            staff_id=staff_id,
            invoice_id=payment["invoice_id"],
        )
    kind, reference = await _return_money(payment, refunded, done["amount"], to_credit, gateways)
    row = await conn.fetchrow(
        """INSERT INTO transactions (client_id, invoice_id, gateway, transaction_id, amount,
                                     currency, refund_of, refund_kind, credited)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id""",
        payment["client_id"],
        payment["invoice_id"],
        payment["gateway"],
        reference,
        -refunded,
        payment["currency"],
        transaction_id,
        kind.value,
        from_credit,
    )
    await audit.record(
        conn,
        staff_id=staff_id,
        action="transaction.refunded",
        client_id=payment["client_id"],
        changes={
            "transaction_id": transaction_id,
            "refund_id": row["id"],
            "amount": str(refunded),
            "currency": payment["currency"],
            "kind": kind.value,
            "invoice_refunded": fully,
        },
    )
    return {"refund": row["id"]}


async def _return_money(
    payment: asyncpg.Record,
    amount: Decimal,
    refunded_before: Decimal,
    to_credit: bool,
    gateways: Mapping[str, PaymentGateway],
) -> tuple[RefundKind, str | None]:
    """How the money goes back, and the gateway's reference of the refund if it went there:
    through the gateway that took it, when loaded, able to refund, and the payment has its
    reference; otherwise staff returned it by hand (a manual gateway's cheque or transfer)."""
    if to_credit:
        return RefundKind.CREDIT, None
    gateway = gateways.get(payment["gateway"])
    if payment["kind"] != "MERCHANT" or payment["transaction_id"] is None:
        return RefundKind.MANUAL, None
    if gateway is None or not callable(getattr(gateway, "refund", None)):
        _refuse(
            f"'{payment['gateway']}' cannot refund here; refund it to credit instead.",
            "toCredit",
            ErrorCode.NOT_CONFIGURED,
        )
    refunding = cast(RefundingGateway, gateway)
    # The same refund of the same payment in the same state: a retry after a crash between
    # the gateway's answer and our commit gets that answer again, not a second refund.
    result = await refunding.refund(
        transaction_id=payment["transaction_id"],
        amount=amount,
        currency=payment["currency"],
        idempotency_key=f"refund-{payment['id']}-{refunded_before}-{amount}",
    )
    if not result.approved:
        _refuse(
            result.message or "The gateway refused the refund.", "id", ErrorCode.PAYMENT_DECLINED
        )
    return RefundKind.GATEWAY, result.refund_id
