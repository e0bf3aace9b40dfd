"""Money that keeps its meaning: the client's payment method applied only when it changes
(SPEC 1.5), currency fixed while the client has money or history in it (1.6, 13.4), invoices
that keep their currency (13.4) and payments of paid invoices becoming credit (3.4, 13.3)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg

from domain.billing import payments
from domain.billing.models import InvoiceStatus, ItemKind
from domain.clients import services
from domain.credit.ledger import entries_by_client
from tests.conftest import add_client
from tests.domain.test_billing import balance_and_log, create_invoice, payment_methods, place

D = Decimal


# --- 1.5 payment method ------------------------------------------------------------------------


async def test_1_5_the_same_default_payment_method_again_keeps_per_item_choices(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    await place(conn, client, (ItemKind.SERVICE, "Hosting", "10.00"), payment_method="mailin")
    await services.update_client(
        conn, client.id, {"default_payment_method": "banktransfer"}, staff_id=None
    )
    # Staff then choose another method for the one service and its invoice.
    await conn.execute("UPDATE services SET payment_method = 'mailin'")
    await conn.execute("UPDATE invoices SET payment_method = 'mailin'")

    # A form posting the whole profile sends the unchanged default along.
    await services.update_client(
        conn,
        client.id,
        {"default_payment_method": "banktransfer", "notes": "Prefers email"},
        staff_id=None,
    )

    assert await payment_methods(conn, client.id) == {
        "services": ["mailin"],
        "addons": [],
        "domains": [],
        "invoices": ["mailin"],
    }
    # The explicit client-wide change still sets it everywhere, changed or not.
    await services.set_client_payment_method(conn, client.id, "banktransfer", staff_id=None)
    assert (await payment_methods(conn, client.id))["services"] == ["banktransfer"]


# --- 3.4 payments of a paid invoice --------------------------------------------------------


async def test_3_4_a_payment_of_a_paid_invoice_becomes_credit_in_its_currency(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn, currency="EUR")
    invoice = await create_invoice(conn, client)  # 100.00
    first = await payments.record_payment(
        conn, invoice.id, amount="100.00", gateway="banktransfer", staff_id=None
    )

    # The second subscription of the same service pays it again.
    second = await payments.record_payment(
        conn, invoice.id, amount="100.01", gateway="banktransfer", staff_id=None
    )

    assert second.invoice == first.invoice  # still PAID, paid when it was, nothing added
    assert (second.transaction.amount, second.transaction.currency) == (D("100.01"), "EUR")
    assert second.transaction.invoice_id == invoice.id
    assert await balance_and_log(conn, client.id) == (D("100.01"), D("100.01"))
    [entry] = (await entries_by_client(conn, [client.id]))[client.id]
    assert (entry.amount, entry.invoice_id, entry.description) == (
        D("100.01"),
        invoice.id,
        f"Credit for Overpayment of Invoice #{invoice.number}",
    )
    audited = await conn.fetchval(
        "SELECT changes FROM audit_log WHERE action = 'invoice.payment_recorded' ORDER BY id DESC"
    )
    assert (audited["amount"], audited["credited"], audited["currency"]) == (
        "100.01",
        "100.01",
        "EUR",
    )


async def test_3_4_payments_at_once_on_one_invoice_credit_exactly_what_was_overpaid(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    client = await add_client(conn)
    invoice = await create_invoice(conn, client)  # 100.00
    amounts = [D("30.00"), D("45.50"), D("60.25"), D("12.34"), D("100.00"), D("0.01")]

    async def pay(amount: Decimal) -> None:
        async with pool.acquire() as own:
            await payments.record_payment(
                own, invoice.id, amount=amount, gateway="banktransfer", staff_id=None
            )

    await asyncio.gather(*(pay(amount) for amount in amounts))

    overpaid = sum(amounts, D(0)) - D("100.00")
    assert await balance_and_log(conn, client.id) == (overpaid, overpaid)
    row = await conn.fetchrow(
        "SELECT status, amount_paid, balance FROM invoices WHERE id = $1", invoice.id
    )
    assert (row["status"], row["amount_paid"], row["balance"]) == (
        InvoiceStatus.PAID,
        D("100.00"),
        D("0.00"),
    )
    received = await conn.fetchval("SELECT sum(amount) FROM transactions")
    assert received == sum(amounts, D(0))
