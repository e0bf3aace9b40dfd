"""Credit spent on an invoice and given back from one: staff apply it (`applyCredit`), a
client pays with it (`payInvoice` CREDIT), and cancelling an unpaid invoice returns it (SPEC
3.5, 13.2, 13.3). Each is one ledger row, so the balance stays the sum of the log (3.6).

Locks: the invoice row, then (through the ledger) the client's, as a payment takes them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from domain import audit
from domain.billing.invoices import cover, get_invoice, key_owner
from domain.billing.models import Invoice, InvoiceStatus
from domain.credit.ledger import lock_balance, record_entry
from domain.errors import DomainError, ErrorCode, NotFound
from domain.idempotency import idempotent
from domain.money import exact_decimal, parse_amount


async def lock_invoice(
    conn: asyncpg.Connection, invoice_id: int, *, client_id: int | None, field: str
) -> asyncpg.Record:
    """The invoice row, locked; another client's invoice is not found (`client_id`: the
    client-area viewer's; None for staff)."""
    row = await conn.fetchrow(
        """SELECT i.id, i.client_id, i.number, i.status, i.balance, i.credit, i.amount_paid,
                  i.currency, i.payment_method, c.currency AS client_currency
             FROM invoices i JOIN clients c ON c.id = i.client_id
            WHERE i.id = $1 AND ($2::bigint IS NULL OR i.client_id = $2)
              FOR UPDATE OF i""",
        invoice_id,
        client_id,
    )
    if row is None:
        raise NotFound("Invoice", field)
    return row


def require_unpaid(invoice: asyncpg.Record, field: str) -> None:
    if invoice["status"] != InvoiceStatus.UNPAID or invoice["balance"] <= 0:
        raise DomainError.single(
            ErrorCode.INVALID,
            f"Invoice #{invoice['number']} is {invoice['status']}, with nothing left to pay.",
            field,
        )


async def apply_credit(
    conn: asyncpg.Connection,
    invoice_id: int,
    *,
    amount: Decimal | str | None,
    client_id: int | None,
    staff_id: int | None,
    login_id: int | None = None,
    idempotency_key: str | None = None,
    operation: str = "applyCredit",
) -> Invoice:
    """Spend credit on an unpaid invoice: `amount`, at most its balance and the client's
    credit, or (None) as much as both allow; PAID once nothing is left to pay.

    With an idempotency key (of `login_id`), a retry returns the invoice unchanged."""
    async with conn.transaction():
        await idempotent(
            conn,
            login_id=key_owner(login_id, idempotency_key),
            key=idempotency_key,
            operation=operation,
            arguments={
                "invoice_id": invoice_id,
                "amount": None if amount is None else exact_decimal(amount) or str(amount),
            },
            perform=lambda: _apply_credit(conn, invoice_id, amount, client_id, staff_id),
        )
        invoice = await get_invoice(conn, invoice_id)
        assert invoice is not None
        return invoice


async def _apply_credit(
    conn: asyncpg.Connection,
    invoice_id: int,
    amount: Decimal | str | None,
    client_id: int | None,
    staff_id: int | None,
) -> dict[str, Any]:
    wanted = None if amount is None else parse_amount(amount, "amount")
    invoice = await lock_invoice(conn, invoice_id, client_id=client_id, field="invoiceId")
    require_unpaid(invoice, "invoiceId")
    if invoice["currency"] != invoice["client_currency"]:
        # Credit is held in the client's currency; it is never spent as another (SPEC 13.4).
        raise DomainError.single(
            ErrorCode.CURRENCY_IN_USE,
            f"The credit is in {invoice['client_currency']}; the invoice is in "
            f"{invoice['currency']}.",
            "invoiceId",
        )
    # Under the client's lock, so that no other credit change moves it before the entry.
    available = await lock_balance(conn, invoice["client_id"])
    if wanted is not None and wanted > invoice["balance"]:
        raise DomainError.single(
            ErrorCode.INVALID, f"The invoice's balance is {invoice['balance']}.", "amount"
        )
    used = min(invoice["balance"], available) if wanted is None else wanted
    if used <= 0:
        # Only when asked for as much as there is (payInvoice): a refusal of its `source`.
        raise DomainError.single(
            ErrorCode.INSUFFICIENT_CREDIT, "There is no credit to apply.", "source"
        )
    # The ledger refuses (INSUFFICIENT_CREDIT, "amount") more than the balance.
    await record_entry(
        conn,
        client_id=invoice["client_id"],
        amount=-used,
        description=f"Credit Applied to Invoice #{invoice['number']}",
        staff_id=staff_id,
        invoice_id=invoice_id,
    )
    await cover(conn, invoice_id, used, by="credit")
    await audit.record(
        conn,
        staff_id=staff_id,
        action="invoice.credit_applied",
        client_id=invoice["client_id"],
        changes={"invoice_id": invoice_id, "amount": str(used), "currency": invoice["currency"]},
    )
    return {"invoice_id": invoice_id}


async def cancel_invoice(
    conn: asyncpg.Connection,
    invoice_id: int,
    *,
    staff_id: int | None,
    login_id: int | None = None,
    idempotency_key: str | None = None,
) -> Invoice:
    """Cancel an unpaid invoice; the credit applied to it returns to the balance, logged.

    One with payments on it is refused: they are refunded first (`refundTransaction`), so
    that no money is left on an invoice that is not owed."""
    async with conn.transaction():
        await idempotent(
            conn,
            login_id=key_owner(login_id, idempotency_key),
            key=idempotency_key,
            operation="cancelInvoice",
            arguments={"invoice_id": invoice_id},
            perform=lambda: _cancel_invoice(conn, invoice_id, staff_id),
        )
        invoice = await get_invoice(conn, invoice_id)
        assert invoice is not None
        return invoice


async def _cancel_invoice(
    conn: asyncpg.Connection, invoice_id: int, staff_id: int | None
) -> dict[str, Any]:
    invoice = await lock_invoice(conn, invoice_id, client_id=None, field="id")
    if invoice["status"] != InvoiceStatus.UNPAID:
        raise DomainError.single(
            ErrorCode.INVALID,
            f"Invoice #{invoice['number']} is {invoice['status']}; only unpaid invoices are "
            "cancelled.",
            "id",
        )
    if invoice["amount_paid"] > 0:
        raise DomainError.single(
            ErrorCode.CONFLICT,
            f"{invoice['amount_paid']} has been paid on invoice #{invoice['number']}; "
            "refund the payments first.",
            "id",
        )
    returned: Decimal = invoice["credit"]
    if returned > 0:
        await record_entry(
            conn,
            client_id=invoice["client_id"],
            amount=returned,
            description=f"Credit Returned from Cancelled Invoice #{invoice['number']}",
            staff_id=staff_id,
            invoice_id=invoice_id,
        )
    await conn.execute(
        "UPDATE invoices SET status = 'CANCELLED', credit = 0 WHERE id = $1", invoice_id
    )
    await audit.record(
        conn,
        staff_id=staff_id,
        action="invoice.cancelled",
        client_id=invoice["client_id"],
        changes={"invoice_id": invoice_id, "credit_returned": str(returned)},
    )
    return {"invoice_id": invoice_id}
