"""Payments: a transaction against an invoice; the excess of an overpayment becomes credit
(SPEC 3.4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

import asyncpg

from domain import audit
from domain.billing.invoices import cover, get_invoice, key_owner
from domain.billing.models import Invoice, InvoiceStatus, RefundKind, Transaction
from domain.credit.ledger import record_entry
from domain.emails.outbox import queue_invoice_emails
from domain.errors import DomainError, ErrorCode, NotFound
from domain.idempotency import idempotent
from domain.money import exact_decimal, parse_amount
from domain.nested import by_id, first_of_each, grouped
from domain.paging import Keyset, Page, PageRequest, fetch_page
from domain.validation import InputCheck

# The email of the payment that made invoice $2 PAID; queued once per invoice.
PAID_EMAIL = "SELECT $2::bigint, 'invoice_payment_confirmation', 'paid'"

TRANSACTION_COLUMNS = (
    "id, client_id, invoice_id, date, gateway, transaction_id, amount, fees, currency,"
    " client_name, client_company_name, refund_of, refund_kind, credited"
)


@dataclass(frozen=True)
class Payment:
    invoice: Invoice
    transaction: Transaction


async def record_payment(
    conn: asyncpg.Connection,
    invoice_id: int,
    *,
    amount: Decimal | str,
    gateway: str,
    transaction_id: str | None = None,
    fees: Decimal | str = Decimal("0.00"),
    staff_id: int | None,
    client_area_url: str,
    login_id: int | None = None,
    idempotency_key: str | None = None,
) -> Payment:
    """Record a payment of an unpaid or paid invoice; PAID once covered, any excess (all of
    a payment of a paid invoice, such as a second subscription's) credited (SPEC 3.4). The
    payment that makes it PAID queues the "Invoice Payment Confirmation" email, its links
    under `client_area_url`.

    With an idempotency key (of `login_id`), a retry returns the first payment unchanged."""
    async with conn.transaction():
        done = await idempotent(
            conn,
            login_id=key_owner(login_id, idempotency_key),
            key=idempotency_key,
            operation="recordPayment",
            arguments={
                "invoice_id": invoice_id,
                # 5, "5" and 5.00 are one amount, so a retry may spell it either way.
                "amount": exact_decimal(amount) or str(amount),
                "gateway": gateway,
                "transaction_id": transaction_id,
                "fees": exact_decimal(fees) or str(fees),
            },
            perform=lambda: _record_payment(
                conn,
                invoice_id,
                amount=amount,
                gateway=gateway,
                transaction_id=transaction_id,
                fees=fees,
                staff_id=staff_id,
                client_area_url=client_area_url,
            ),
        )
        invoice = await get_invoice(conn, invoice_id)
        row = await conn.fetchrow(
            f"SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE id = $1", done["transaction"]
        )
        assert invoice is not None and row is not None
        return Payment(invoice=invoice, transaction=transaction_from_row(row))


async def _record_payment(
    conn: asyncpg.Connection,
    invoice_id: int,
    *,
    amount: Decimal | str,
    gateway: str,
    transaction_id: str | None,
    fees: Decimal | str,
    staff_id: int | None,
    client_area_url: str,
) -> dict[str, Any]:
    check = InputCheck()
    paid = _amount(check, amount, "amount", allow_zero=False)
    fee = _amount(check, fees, "fees", allow_zero=True)
    if paid is not None and fee is not None and fee > paid:
        check.fail("fees", ErrorCode.INVALID, "Fees cannot be more than the amount received.")
    reference = check.optional_text("transaction_id", transaction_id, "Transaction id")
    async with conn.transaction():
        invoice = await conn.fetchrow(
            """SELECT client_id, number, status, balance, currency
                 FROM invoices WHERE id = $1 FOR UPDATE""",
            invoice_id,
        )
        if invoice is None:
            raise NotFound("Invoice", "invoice_id")
        if invoice["status"] not in (InvoiceStatus.UNPAID, InvoiceStatus.PAID):
            check.fail(
                "invoice_id",
                ErrorCode.INVALID,
                f"Invoice #{invoice['number']} is {invoice['status']}; only unpaid and paid "
                "invoices take payments.",
            )
        if not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM payment_gateways WHERE name = $1)", gateway
        ):
            check.fail("gateway", ErrorCode.INVALID, f"'{gateway}' is not a payment gateway.")
        check.raise_if_failed()
        assert paid is not None and fee is not None
        # The invoice row is locked, so two payments at once see each other's balance: what
        # the second pays beyond it, all of it once the invoice is PAID, becomes credit.
        applied = min(paid, invoice["balance"])
        try:
            row = await conn.fetchrow(
                f"""INSERT INTO transactions (client_id, invoice_id, gateway, transaction_id,
                                              amount, fees, currency, credited)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {TRANSACTION_COLUMNS}""",
                invoice["client_id"],
                invoice_id,
                gateway,
                reference,
                paid,
                fee,
                invoice["currency"],
                paid - applied,
            )
        except asyncpg.UniqueViolationError:
            raise DomainError.single(
                ErrorCode.CONFLICT,
                f"Transaction {reference} of {gateway} is already recorded.",
                "transaction_id",
            ) from None
        if applied > 0:
            await cover(conn, invoice_id, applied, by="paid")
        if applied > 0 and applied == invoice["balance"]:
            await queue_invoice_emails(
                conn, PAID_EMAIL, invoice_id, client_area_url=client_area_url
            )
        if paid > applied:
            await record_entry(
                conn,
                client_id=invoice["client_id"],
                amount=paid - applied,
                description=f"Credit for Overpayment of Invoice #{invoice['number']}",
                staff_id=staff_id,
                invoice_id=invoice_id,
            )
        await audit.record(
            conn,
            staff_id=staff_id,
            action="invoice.payment_recorded",
            client_id=invoice["client_id"],
            changes={
                "invoice_id": invoice_id,
                "amount": str(paid),
                "currency": invoice["currency"],
                "gateway": gateway,
                "credited": str(paid - applied),
            },
        )
        return {"transaction": row["id"]}


def _amount(
    check: InputCheck, value: Decimal | str, field: str, *, allow_zero: bool
) -> Decimal | None:
    try:
        return parse_amount(value, field, allow_zero=allow_zero)
    except DomainError as error:
        check.errors.extend(error.errors)
        return None


_TRANSACTION_FIELDS = tuple(f.name for f in fields(Transaction))


def transaction_from_row(row: asyncpg.Record) -> Transaction:
    values = {name: row[name] for name in _TRANSACTION_FIELDS}
    kind = values.pop("refund_kind")
    return Transaction(**values, refund_kind=RefundKind(kind) if kind else None)


async def transactions_by_ids(
    conn: asyncpg.Connection, ids: Sequence[int]
) -> dict[int, Transaction]:
    rows = await conn.fetch(
        f"SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE id = ANY($1::bigint[])", list(ids)
    )
    return by_id(rows, transaction_from_row)


async def transactions_by_client(
    conn: asyncpg.Connection, client_ids: Sequence[int], *, per_client: int | None = None
) -> dict[int, list[Transaction]]:
    """Each client's transactions, newest first; at most `per_client` each."""
    rows = await conn.fetch(
        first_of_each(
            f"""SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE client_id = {{parent}}
                 ORDER BY id DESC"""
        ),
        list(client_ids),
        per_client,
    )
    return grouped(rows, client_ids, transaction_from_row)


# Transactions newest first (by id), of one client or all.
TRANSACTIONS = Keyset(
    columns=TRANSACTION_COLUMNS,
    source="FROM transactions",
    expression="id",
    sql_type="bigint",
    id_column="id",
)


async def find_transactions(
    conn: asyncpg.Connection,
    request: PageRequest,
    *,
    client_id: int | None,
    look_behind: bool = True,
) -> Page[Transaction]:
    """A page of transactions, newest first, of one client or all.

    They outlive deleted clients (SPEC 7.2), so a client id matches even when it is gone."""
    return await fetch_page(
        conn,
        TRANSACTIONS,
        request,
        transaction_from_row,
        conditions=["client_id = $1"] if client_id is not None else [],
        params=[client_id] if client_id is not None else [],
        descending=True,
        look_behind=look_behind,
    )
