"""Money that keeps its meaning: the client's payment method applied only when it changes
(SPEC 1.5), currency fixed while the client has money or history in it (1.6, 13.4), invoices
that keep their currency (13.4) and payments of paid invoices becoming credit (3.4, 13.3)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import pytest

from domain.billing import invoices
from domain.billing.models import InvoiceStatus, ItemKind
from domain.clients import services
from domain.clients.queries import get_client
from domain.credit.ledger import entries_by_client, record_entry
from domain.errors import DomainError, ErrorCode
from tests.conftest import add_client, pay_by_transfer
from tests.domain.test_billing import balance_and_log, create_invoice, payment_methods, place
from tests.domain.test_clients import field_errors

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


# --- 1.6 a currency with money in it ---------------------------------------------------------


async def test_1_6_credit_in_the_clients_currency_refuses_an_order_in_another(
    conn: asyncpg.Connection,
) -> None:
    # The README's sequence: a GBP client with £25 of credit, then an order in EUR.
    client = await add_client(conn, currency="GBP")
    await record_entry(conn, client_id=client.id, amount=D("25.00"), description="Goodwill")

    with pytest.raises(DomainError) as refused:
        await place(conn, client, (ItemKind.SERVICE, "Hosting", "21.99"), currency="EUR")

    assert field_errors(refused.value) == {("currency", ErrorCode.CURRENCY_IN_USE)}
    assert "holds credit in GBP" in refused.value.errors[0].message
    kept = await get_client(conn, client.id)
    assert kept is not None and (kept.currency, kept.credit_balance) == ("GBP", D("25.00"))
    assert await conn.fetchval("SELECT count(*) FROM orders") == 0
    assert await conn.fetchval("SELECT count(*) FROM invoices") == 0
    # In its own currency the order is taken, and the credit applies as it says.
    order = await place(conn, client, (ItemKind.SERVICE, "Hosting", "21.99"), currency="GBP")
    assert order.currency == "GBP"


async def test_1_6_credit_or_its_history_refuses_a_currency_change_by_staff(
    conn: asyncpg.Connection,
) -> None:
    holding = await add_client(conn, currency="GBP")
    spent = await add_client(conn, email="spent@example.com", currency="GBP")
    fresh = await add_client(conn, email="fresh@example.com", currency="GBP")
    await record_entry(conn, client_id=holding.id, amount=D("25.00"), description="Goodwill")
    # Credit given and taken back: the balance is zero, the log is history in GBP.
    await record_entry(conn, client_id=spent.id, amount=D("5.00"), description="Goodwill")
    await record_entry(conn, client_id=spent.id, amount=D("-5.00"), description="Mistake")

    refusals = []
    for client in (holding, spent):
        with pytest.raises(DomainError) as refused:
            await services.update_client(conn, client.id, {"currency": "EUR"}, staff_id=None)
        refusals.append(field_errors(refused.value))
    changed = await services.update_client(conn, fresh.id, {"currency": "EUR"}, staff_id=None)

    assert refusals == [{("currency", ErrorCode.CURRENCY_IN_USE)}] * 2
    for client in (holding, spent):
        kept = await get_client(conn, client.id)
        assert kept is not None and kept.currency == "GBP"
    assert changed.client.currency == "EUR"
    updates = "SELECT count(*) FROM audit_log WHERE action = 'client.updated'"
    assert await conn.fetchval(updates) == 1


# --- 13.4 an invoice keeps its currency ------------------------------------------------------


async def test_13_4_an_invoice_keeps_the_currency_it_was_made_in(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    order = await place(conn, client, (ItemKind.SERVICE, "Hosting", "10.00"), currency="EUR")
    staff_made = await create_invoice(conn, client)
    # The client's currency as it could be changed before issue 21 (or by a direct edit).
    await conn.execute("UPDATE clients SET currency = 'GBP' WHERE id = $1", client.id)

    assert order.invoice_id is not None
    ordered = await invoices.get_invoice(conn, order.invoice_id)
    assert ordered is not None and (ordered.currency, staff_made.currency) == ("EUR", "EUR")
    paid = await pay_by_transfer(conn, ordered.id, "10.00")
    assert (paid.invoice.currency, paid.transaction.currency) == ("EUR", "EUR")
    new = await create_invoice(conn, client)
    assert new.currency == "GBP"


# --- 3.4 payments of a paid invoice --------------------------------------------------------


async def test_3_4_a_payment_of_a_paid_invoice_becomes_credit_in_its_currency(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn, currency="EUR")
    invoice = await create_invoice(conn, client)  # 100.00
    first = await pay_by_transfer(conn, invoice.id, "100.00")

    # The second subscription of the same service pays it again.
    second = await pay_by_transfer(conn, invoice.id, "100.01")

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
            await pay_by_transfer(own, invoice.id, amount)

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
