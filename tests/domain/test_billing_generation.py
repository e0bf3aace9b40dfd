"""SPEC 9.5 and the 1.5 flags it honours: invoice generation and automatic card capture."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal

import asyncpg
import pytest

from domain.billing import generation, invoices, items, orders, tax
from domain.billing.gateway_protocol import CaptureResult, CardOnFile
from domain.billing.gateways import capture_due_invoices, capture_invoice
from domain.billing.models import InvoiceStatus, ItemKind, Order, ServiceStatus
from domain.billing.testcard import TestCardGateway
from domain.cards.numbers import luhn_valid
from domain.clients.models import Client
from domain.settings import update_general_settings
from tests.conftest import CLIENT_AREA_URL, add_client
from tests.domain.test_billing import balance_and_log, give_credit, place

D = Decimal
TODAY = date.today()


async def active_order(
    conn: asyncpg.Connection,
    client: Client,
    *lines: tuple[ItemKind, str, str] | tuple[ItemKind, str, str, str],
    payment_method: str | None = "banktransfer",
) -> Order:
    """Items ordered today, accepted: their next period is due one cycle from today."""
    order = await place(conn, client, *lines, payment_method=payment_method)
    return await orders.accept_order(conn, order.id, staff_id=None, client_area_url=CLIENT_AREA_URL)


def due_date_of(order: Order) -> date:
    due = order.items[0].next_due_date
    assert due is not None
    return due


async def generated(conn: asyncpg.Connection, client: Client) -> list[invoices.Invoice]:
    """The client's invoices other than those of its orders, oldest first."""
    found = (await invoices.invoices_by_client(conn, [client.id]))[client.id]
    ordered = {row["invoice_id"] for row in await conn.fetch("SELECT invoice_id FROM orders")}
    return sorted((i for i in found if i.id not in ordered), key=lambda i: i.id)


async def invoiced_items(conn: asyncpg.Connection, invoice_id: int) -> list[str]:
    lines = (await invoices.items_by_invoice(conn, [invoice_id]))[invoice_id]
    return [line.description.split(" (")[0] for line in lines]


async def test_9_5_items_due_within_the_setting_are_invoiced_once_and_move_on(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    order = await active_order(
        conn,
        client,
        (ItemKind.SERVICE, "Hosting", "10.00"),
        (ItemKind.ADDON, "Backups", "2.00"),
        (ItemKind.DOMAIN, "a.com", "9.00"),
    )
    due = due_date_of(order)

    too_early = await generation.generate_invoices(conn, as_of=due - timedelta(days=15))
    result = await generation.generate_invoices(conn, as_of=due - timedelta(days=14))
    again = await generation.generate_invoices(conn, as_of=due - timedelta(days=14))

    assert too_early == generation.GenerationResult(invoices_created=0, items_invoiced=0)
    assert result == generation.GenerationResult(invoices_created=1, items_invoiced=3)
    assert again.invoices_created == 0
    [invoice] = await generated(conn, client)
    assert (invoice.due_date, invoice.total, invoice.payment_method) == (
        due,
        D("21.00"),
        "banktransfer",
    )
    assert await invoiced_items(conn, invoice.id) == ["Hosting", "Backups", "a.com"]
    moved = (await items.items_by_client(conn, ItemKind.SERVICE, [client.id]))[client.id]
    assert moved[0].next_due_date == await conn.fetchval(
        "SELECT ($1::date + interval '1 month')::date", due
    )


async def test_9_5_the_days_before_setting_decides_how_far_ahead(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    due = due_date_of(await active_order(conn, client, (ItemKind.SERVICE, "Hosting", "10.00")))
    await update_general_settings(conn, create_invoice_days_before=20)

    result = await generation.generate_invoices(conn, as_of=due - timedelta(days=20))

    assert result.invoices_created == 1


async def test_9_5_only_active_items_are_invoiced(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    pending = await place(conn, client, (ItemKind.SERVICE, "Pending", "1.00"))
    cancelled = await active_order(conn, client, (ItemKind.SERVICE, "Cancelled", "1.00"))
    await items.set_service_status(
        conn,
        cancelled.items[0].id,
        ServiceStatus.CANCELLED,
        staff_id=None,
        client_area_url=CLIENT_AREA_URL,
    )
    suspended = await active_order(conn, client, (ItemKind.SERVICE, "Suspended", "1.00"))
    await items.set_service_status(
        conn,
        suspended.items[0].id,
        ServiceStatus.SUSPENDED,
        staff_id=None,
        client_area_url=CLIENT_AREA_URL,
    )

    await generation.generate_invoices(conn, as_of=due_date_of(pending))

    [invoice] = await generated(conn, client)
    assert await invoiced_items(conn, invoice.id) == ["Suspended"]


async def test_9_5_items_due_on_other_dates_or_by_other_methods_get_their_own_invoices(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    monthly = await active_order(conn, client, (ItemKind.SERVICE, "Monthly", "1.00"))
    await active_order(conn, client, (ItemKind.SERVICE, "Quarterly", "3.00", "QUARTERLY"))
    await active_order(conn, client, (ItemKind.SERVICE, "By post", "2.00"), payment_method="mailin")
    await active_order(conn, client, (ItemKind.SERVICE, "Also monthly", "4.00"))

    # Far enough ahead to reach the quarterly item as well.
    await generation.generate_invoices(conn, as_of=due_date_of(monthly), days_before=100)

    found = await generated(conn, client)
    assert sorted([await invoiced_items(conn, i.id) for i in found]) == [
        ["By post"],
        ["Monthly", "Also monthly"],
        ["Quarterly"],
    ]


async def test_1_5_separate_invoices_gives_each_item_its_own_invoice(
    conn: asyncpg.Connection,
) -> None:
    grouped = await add_client(conn)
    separate = await add_client(conn, email="separate@example.com", separate_invoices=True)
    lines = ((ItemKind.SERVICE, "Hosting", "10.00"), (ItemKind.ADDON, "Backups", "2.00"))
    due = due_date_of(await active_order(conn, grouped, *lines))
    await active_order(conn, separate, *lines)

    result = await generation.generate_invoices(conn, as_of=due)

    assert result == generation.GenerationResult(invoices_created=3, items_invoiced=4)
    assert len(await generated(conn, grouped)) == 1
    assert [await invoiced_items(conn, i.id) for i in await generated(conn, separate)] == [
        ["Hosting"],
        ["Backups"],
    ]


async def test_1_5_tax_exempt_clients_get_generated_invoices_without_tax(
    conn: asyncpg.Connection,
) -> None:
    await tax.set_tax_rule(conn, country="DE", state=None, name="MwSt", rate="19")
    taxed = await add_client(conn, country="DE")
    exempt = await add_client(conn, email="exempt@example.com", country="DE", tax_exempt=True)
    due = due_date_of(await active_order(conn, taxed, (ItemKind.SERVICE, "Hosting", "10.00")))
    await active_order(conn, exempt, (ItemKind.SERVICE, "Hosting", "10.00"))

    await generation.generate_invoices(conn, as_of=due)

    [with_tax] = await generated(conn, taxed)
    [without_tax] = await generated(conn, exempt)
    assert (with_tax.tax, with_tax.total) == (D("1.90"), D("11.90"))
    assert (without_tax.tax, without_tax.total) == (D("0.00"), D("10.00"))


async def test_3_6_an_invoice_too_large_to_store_is_left_out_and_the_others_are_made(
    conn: asyncpg.Connection,
) -> None:
    largest = "999999999999.99"
    big = await add_client(conn, email="big@example.com")
    taxed = await add_client(conn, email="taxed@example.com", country="GB")
    small = await add_client(conn)
    # Each order's own invoice fits; the period they fall due together does not.
    due = due_date_of(await active_order(conn, big, (ItemKind.SERVICE, "Big", largest)))
    await active_order(conn, big, (ItemKind.ADDON, "Bigger", largest))
    await active_order(conn, big, (ItemKind.SERVICE, "Separate", "5.00"), payment_method="mailin")
    await active_order(conn, taxed, (ItemKind.SERVICE, "Almost", "900000000000.00"))
    await active_order(conn, small, (ItemKind.SERVICE, "Hosting", "10.00"))
    await tax.set_tax_rule(conn, country="GB", state=None, name="VAT", rate="20")
    numbers = await conn.fetchval("SELECT max(number) FROM invoices")

    result = await generation.generate_invoices(conn, as_of=due)

    assert result == generation.GenerationResult(
        invoices_created=2,
        items_invoiced=2,
        too_large=(
            generation.TooLargeInvoice(big.id, due, D("1999999999999.98")),
            generation.TooLargeInvoice(taxed.id, due, D("1080000000000.00")),
        ),
    )
    assert [i.total for i in await generated(conn, small)] == [D("10.00")]
    assert [i.number for i in await generated(conn, big)] == [numbers + 1]
    assert await generated(conn, taxed) == []
    # Still due, so that the run invoices them once their prices are put right.
    left = await conn.fetch(
        "SELECT name FROM services WHERE next_due_date = $1 UNION ALL"
        " SELECT name FROM addons WHERE next_due_date = $1 ORDER BY name",
        due,
    )
    assert [row["name"] for row in left] == ["Almost", "Big", "Bigger"]
    await conn.execute("UPDATE addons SET amount = 0")
    again = await generation.generate_invoices(conn, as_of=due)
    assert (again.invoices_created, len(again.too_large)) == (1, 1)
    assert [i.total for i in await generated(conn, big)] == [D("5.00"), D(largest)]


async def test_9_5_credit_is_applied_to_generated_invoices_in_due_order(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    due = due_date_of(await active_order(conn, client, (ItemKind.SERVICE, "Monthly", "10.00")))
    await active_order(conn, client, (ItemKind.SERVICE, "Quarterly", "30.00", "QUARTERLY"))
    await give_credit(conn, client, "25.00")

    await generation.generate_invoices(conn, as_of=due, days_before=120)

    first, second = await generated(conn, client)
    assert (first.status, first.credit, first.balance) == (InvoiceStatus.PAID, D("10.00"), 0)
    assert (second.status, second.credit, second.balance) == (
        InvoiceStatus.UNPAID,
        D("15.00"),
        D("15.00"),
    )
    assert await balance_and_log(conn, client.id) == (D("0.00"), D("0.00"))


async def test_9_5_credit_is_not_applied_when_the_installation_turns_it_off(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    due = due_date_of(await active_order(conn, client, (ItemKind.SERVICE, "Hosting", "10.00")))
    await give_credit(conn, client, "25.00")
    await update_general_settings(conn, apply_credit_automatically=False)

    await generation.generate_invoices(conn, as_of=due)

    [invoice] = await generated(conn, client)
    assert (invoice.credit, invoice.balance) == (D("0.00"), D("10.00"))
    assert await balance_and_log(conn, client.id) == (D("25.00"), D("25.00"))


async def test_9_5_two_runs_at_once_invoice_each_period_once(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        client = await add_client(conn)
        due = due_date_of(await active_order(conn, client, (ItemKind.SERVICE, "Hosting", "1.00")))
    async with pool.acquire() as first, pool.acquire() as second:
        results = await asyncio.gather(
            generation.generate_invoices(first, as_of=due),
            generation.generate_invoices(second, as_of=due),
        )
    assert sorted(r.invoices_created for r in results) == [0, 1]


# --- capture through the payment gateway -----------------------------------------------------

APPROVED_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


async def test_9_5_the_test_gateway_approves_and_declines_by_card_number() -> None:
    gateway = TestCardGateway()

    def capture(number: str):  # type: ignore[no-untyped-def]
        return gateway.capture(
            amount=D("1.00"),
            currency="USD",
            card=CardOnFile(number=number),
            description="test",
            invoice_id=1,
            idempotency_key=number,
        )

    approved = await capture(APPROVED_CARD)
    declined = await capture(DECLINED_CARD)
    invalid = await capture("4242424242424241")

    assert approved.approved and approved.transaction_id
    assert not declined.approved and declined.message == "Card declined."
    assert not invalid.approved and not luhn_valid("4242424242424241")


@pytest.mark.parametrize("cc_processing_disabled", [False, True])
async def test_1_5_cc_processing_disabled_keeps_card_invoices_out_of_capture(
    conn: asyncpg.Connection, cc_processing_disabled: bool
) -> None:
    client = await add_client(conn, cc_processing_disabled=cc_processing_disabled)
    order = await place(
        conn, client, (ItemKind.SERVICE, "Hosting", "10.00"), payment_method="testcard"
    )

    async def card_of(client_id: int) -> CardOnFile:
        return CardOnFile(number=APPROVED_CARD)

    summary = await capture_due_invoices(
        conn,
        as_of=TODAY,
        gateways={"testcard": TestCardGateway()},
        card_for=card_of,
        client_area_url=CLIENT_AREA_URL,
    )

    invoice = await invoices.get_invoice(conn, order.invoice_id or 0)
    assert invoice is not None
    if cc_processing_disabled:
        assert summary.captured == []
        assert invoice.status is InvoiceStatus.UNPAID
    else:
        assert summary.captured == [invoice.id]
        assert invoice.status is InvoiceStatus.PAID
        [transaction] = await conn.fetch("SELECT gateway, amount FROM transactions")
        assert (transaction["gateway"], transaction["amount"]) == ("testcard", D("10.00"))


async def test_9_5_a_declined_card_leaves_the_invoice_unpaid_and_manual_methods_are_skipped(
    conn: asyncpg.Connection,
) -> None:
    declined = await add_client(conn)
    manual = await add_client(conn, email="manual@example.com")
    card = await place(
        conn, declined, (ItemKind.SERVICE, "Hosting", "10.00"), payment_method="testcard"
    )
    await place(conn, manual, (ItemKind.SERVICE, "Hosting", "10.00"), payment_method="mailin")

    async def card_of(client_id: int) -> CardOnFile:
        return CardOnFile(number=DECLINED_CARD)

    summary = await capture_due_invoices(
        conn,
        as_of=TODAY,
        gateways={"testcard": TestCardGateway()},
        card_for=card_of,
        client_area_url=CLIENT_AREA_URL,
    )

    assert (summary.captured, summary.declined) == ([], [card.invoice_id])
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 0


async def test_9_5_a_capture_retried_with_its_key_is_recorded_once(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    order = await place(
        conn, client, (ItemKind.SERVICE, "Hosting", "10.00"), payment_method="testcard"
    )
    invoice = await conn.fetchrow(
        "SELECT id, number, balance, currency FROM invoices WHERE id = $1", order.invoice_id
    )
    gateway = TestCardGateway()  # answers a key it has seen with its first answer
    first, retried = [
        await capture_invoice(
            conn,
            invoice,
            gateway,
            CardOnFile(number=APPROVED_CARD),
            idempotency_key="capture-once",
            client_area_url=CLIENT_AREA_URL,
        )
        for _ in range(2)
    ]
    assert not isinstance(first, CaptureResult) and not isinstance(retried, CaptureResult)
    assert retried.transaction == first.transaction
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 1
    assert await conn.fetchval("SELECT credit_balance FROM clients") == D("0.00")
