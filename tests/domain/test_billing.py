"""Billing at the domain layer: orders, invoices, tax, payments, credit on invoices and the
client's payment method and currency (SPEC 1.5, 1.6, 2.5, 3.4, 3.5)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from domain.billing import invoices, items, orders, payments, status_filter, tax
from domain.billing.models import (
    BilledTo,
    DomainStatus,
    Invoice,
    InvoiceStatus,
    ItemKind,
    Order,
    OrderStatus,
    ServiceStatus,
)
from domain.billing.status_filter import StatusFilter
from domain.clients import queries, services
from domain.clients.models import Client
from domain.contacts import services as contact_services
from domain.credit.ledger import entries_by_client, record_entry
from domain.errors import DomainError, ErrorCode
from domain.money import MAX_AMOUNT
from domain.settings import update_general_settings
from tests.conftest import CLIENT_AREA_URL, add_client, pay_by_transfer
from tests.domain.test_clients import field_errors

D = Decimal


async def place(
    conn: asyncpg.Connection,
    client: Client,
    *lines: tuple[ItemKind, str, str] | tuple[ItemKind, str, str, str],
    payment_method: str | None = None,
    currency: str | None = None,
) -> Order:
    """Place an order of (kind, name, amount[, billing cycle]) lines."""
    return await orders.place_order(
        conn,
        client.id,
        items=[
            {"kind": line[0], "name": line[1], "amount": line[2], "billing_cycle": line[3]}
            if len(line) == 4
            else {"kind": line[0], "name": line[1], "amount": line[2]}
            for line in lines
        ],
        payment_method=payment_method,
        currency=currency,
        staff_id=None,
    )


async def invoice_of(conn: asyncpg.Connection, order: Order) -> Invoice:
    assert order.invoice_id is not None
    invoice = await invoices.get_invoice(conn, order.invoice_id)
    assert invoice is not None
    return invoice


async def create_invoice(
    conn: asyncpg.Connection,
    client: Client,
    lines: Sequence[Mapping[str, Any]] = ({"description": "Setup", "amount": "100.00"},),
    *,
    due_date: date | None = None,
    payment_method: str | None = None,
) -> Invoice:
    return await invoices.create_invoice(
        conn,
        client.id,
        items=lines,
        due_date=due_date,
        payment_method=payment_method,
        staff_id=None,
    )


async def balance_and_log(conn: asyncpg.Connection, client_id: int) -> tuple[Decimal, Decimal]:
    row = await conn.fetchrow(
        """SELECT c.credit_balance, coalesce(sum(l.amount), 0) AS logged
             FROM clients c LEFT JOIN credit_log l ON l.client_id = c.id
            WHERE c.id = $1 GROUP BY c.id""",
        client_id,
    )
    return row["credit_balance"], row["logged"]


async def give_credit(conn: asyncpg.Connection, client: Client, amount: str) -> None:
    await record_entry(conn, client_id=client.id, amount=D(amount), description="Goodwill")


# --- orders ----------------------------------------------------------------------------------


async def test_placing_an_order_creates_pending_items_and_invoices_their_first_period(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)

    order = await place(
        conn,
        client,
        (ItemKind.SERVICE, "Hosting", "10.00"),
        (ItemKind.ADDON, "Backups", "2.50", "MONTHLY"),
        (ItemKind.DOMAIN, "example.com", "12.00", "ANNUALLY"),
        (ItemKind.SERVICE, "Setup", "0", "ONE_TIME"),
        payment_method="banktransfer",
    )

    assert order.status is OrderStatus.PENDING
    assert [(i.kind, i.name, i.status) for i in order.items] == [
        (ItemKind.SERVICE, "Hosting", "PENDING"),
        (ItemKind.ADDON, "Backups", "PENDING"),
        (ItemKind.DOMAIN, "example.com", "PENDING"),
        (ItemKind.SERVICE, "Setup", "PENDING"),
    ]
    today = date.today()
    hosting, _, domain, setup = order.items
    assert hosting.next_due_date is not None and hosting.next_due_date.month != today.month
    assert domain.next_due_date == await conn.fetchval(
        "SELECT (current_date + interval '1 year')::date"
    )
    assert setup.next_due_date is None  # one-time: invoiced once, never again
    invoice = await invoice_of(conn, order)
    assert (invoice.status, invoice.due_date, invoice.payment_method) == (
        InvoiceStatus.UNPAID,
        today,
        "banktransfer",
    )
    assert (invoice.subtotal, invoice.tax, invoice.total, invoice.balance) == (
        D("24.50"),
        D("0.00"),
        D("24.50"),
        D("24.50"),
    )
    lines = (await invoices.items_by_invoice(conn, [invoice.id]))[invoice.id]
    assert [line.item_id for line in lines] == [item.id for item in order.items]
    assert lines[0].description.startswith(f"Hosting ({today.isoformat()} - ")
    assert lines[3].description == "Setup"


async def test_placing_an_order_refuses_bad_lines_per_field_and_changes_nothing(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)

    with pytest.raises(DomainError) as refused:
        await orders.place_order(
            conn,
            client.id,
            items=[
                {"kind": ItemKind.SERVICE, "name": " ", "amount": "10.00"},
                {"kind": ItemKind.SERVICE, "name": "Hosting", "amount": "1.005"},
                {"kind": ItemKind.SERVICE, "name": "Hosting", "amount": "-1"},
            ],
            payment_method="nosuchgateway",
            staff_id=None,
        )

    assert field_errors(refused.value) == {
        ("items.0.name", ErrorCode.REQUIRED),
        ("items.1.amount", ErrorCode.INVALID),
        ("items.2.amount", ErrorCode.INVALID),
        ("payment_method", ErrorCode.INVALID),
    }
    assert await conn.fetchval("SELECT count(*) FROM orders") == 0
    assert await conn.fetchval("SELECT count(*) FROM invoices") == 0


async def test_an_order_without_a_payment_method_uses_the_clients_default(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn, default_payment_method="mailin")

    order = await place(conn, client, (ItemKind.SERVICE, "Hosting", "10.00"))

    assert order.payment_method == "mailin"
    assert {item.payment_method for item in order.items} == {"mailin"}
    assert (await invoice_of(conn, order)).payment_method == "mailin"


async def test_accepting_an_order_activates_its_items_once(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    order = await place(
        conn, client, (ItemKind.SERVICE, "Hosting", "10.00"), (ItemKind.DOMAIN, "a.com", "9.00")
    )

    accepted = await orders.accept_order(
        conn, order.id, staff_id=None, client_area_url=CLIENT_AREA_URL
    )

    assert accepted.status is OrderStatus.ACCEPTED
    assert [item.status for item in accepted.items] == ["ACTIVE", "ACTIVE"]
    with pytest.raises(DomainError) as again:
        await orders.accept_order(conn, order.id, staff_id=None, client_area_url=CLIENT_AREA_URL)
    assert field_errors(again.value) == {("id", ErrorCode.CONFLICT)}


async def test_service_addon_and_domain_statuses_are_set_by_id(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    service, addon, domain = (
        await place(
            conn,
            client,
            (ItemKind.SERVICE, "Hosting", "10.00"),
            (ItemKind.ADDON, "Backups", "1.00"),
            (ItemKind.DOMAIN, "a.com", "9.00"),
        )
    ).items

    suspended = await items.set_service_status(
        conn, service.id, ServiceStatus.SUSPENDED, staff_id=None, client_area_url=CLIENT_AREA_URL
    )
    fraud = await items.set_service_status(
        conn, addon.id, ServiceStatus.FRAUD, staff_id=None, client_area_url=CLIENT_AREA_URL
    )
    expired = await items.set_domain_status(conn, domain.id, DomainStatus.EXPIRED, staff_id=None)

    assert (suspended.kind, suspended.status) == (ItemKind.SERVICE, "SUSPENDED")
    assert (fraud.kind, fraud.status) == (ItemKind.ADDON, "FRAUD")
    assert (expired.kind, expired.status) == (ItemKind.DOMAIN, "EXPIRED")
    # Ids are shared across kinds: a domain is not a service, and the reverse.
    with pytest.raises(DomainError):
        await items.set_service_status(
            conn, domain.id, ServiceStatus.ACTIVE, staff_id=None, client_area_url=CLIENT_AREA_URL
        )
    with pytest.raises(DomainError):
        await items.set_domain_status(conn, service.id, DomainStatus.ACTIVE, staff_id=None)


# --- 1.6 currency ----------------------------------------------------------------------------


async def test_1_6_the_first_order_fixes_the_clients_currency(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)  # USD, the installation's default

    first = await place(conn, client, (ItemKind.SERVICE, "Hosting", "10.00"), currency="EUR")
    later = await place(conn, client, (ItemKind.SERVICE, "Mail", "3.00"))

    assert (first.currency, later.currency) == ("EUR", "EUR")
    stored = await queries.get_client(conn, client.id)
    assert stored is not None and stored.currency == "EUR"
    with pytest.raises(DomainError) as refused:
        await place(conn, client, (ItemKind.SERVICE, "More", "3.00"), currency="GBP")
    assert field_errors(refused.value) == {("currency", ErrorCode.CURRENCY_IN_USE)}


async def test_1_6_changing_the_currency_of_a_billed_client_is_refused_and_converts_nothing(
    conn: asyncpg.Connection,
) -> None:
    billed = await add_client(conn)
    unbilled = await add_client(conn, email="new@example.com")
    order = await place(conn, billed, (ItemKind.SERVICE, "Hosting", "10.00"))

    with pytest.raises(DomainError) as refused:
        await services.update_client(
            conn, billed.id, {"currency": "GBP", "notes": "Moved"}, staff_id=None
        )
    changed = await services.update_client(conn, unbilled.id, {"currency": "GBP"}, staff_id=None)

    assert field_errors(refused.value) == {("currency", ErrorCode.CURRENCY_IN_USE)}
    assert "USD" in refused.value.errors[0].message
    kept = await queries.get_client(conn, billed.id)
    assert kept is not None and (kept.currency, kept.notes) == ("USD", None)
    assert changed.client.currency == "GBP"
    invoice = await invoice_of(conn, order)
    assert invoice.total == D("10.00")  # not converted
    assert order.items[0].amount == D("10.00")


# --- invoices, tax, billing contact ------------------------------------------------------------


async def test_staff_invoice_has_numbered_items_subtotal_tax_total_and_balance(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn, country="GB")
    await tax.set_tax_rule(conn, country="GB", state=None, name="VAT", rate="20")

    first = await create_invoice(
        conn,
        client,
        [
            {"description": "Consulting", "amount": "100.00"},
            {"description": "Postage", "amount": "5.55", "taxed": False},
        ],
        due_date=date(2030, 1, 31),
        payment_method="banktransfer",
    )
    second = await create_invoice(conn, client)

    assert second.number == first.number + 1
    assert (first.due_date, first.payment_method, first.status) == (
        date(2030, 1, 31),
        "banktransfer",
        InvoiceStatus.UNPAID,
    )
    assert (first.subtotal, first.tax_rate, first.tax, first.total, first.balance) == (
        D("105.55"),
        D("20.00"),
        D("20.00"),
        D("125.55"),
        D("125.55"),
    )
    lines = (await invoices.items_by_invoice(conn, [first.id]))[first.id]
    assert [(line.description, line.amount, line.taxed) for line in lines] == [
        ("Consulting", D("100.00"), True),
        ("Postage", D("5.55"), False),
    ]


async def test_a_state_tax_rule_wins_over_the_countrys_and_a_rule_can_change(
    conn: asyncpg.Connection,
) -> None:
    texan = await add_client(conn, country="US", state="tx")
    ohioan = await add_client(conn, email="oh@example.com", country="US", state="OH")
    await tax.set_tax_rule(conn, country="US", state=None, name="Federal", rate="5")
    rule = await tax.set_tax_rule(conn, country="us", state="TX", name="Texas", rate="6.25")

    assert (rule.country, rule.state) == ("US", "TX")
    assert (await create_invoice(conn, texan)).tax == D("6.25")
    assert (await create_invoice(conn, ohioan)).tax == D("5.00")
    await tax.set_tax_rule(conn, country="US", state="TX", name="Texas", rate="8")
    assert (await create_invoice(conn, texan)).tax == D("8.00")
    await tax.delete_tax_rule(conn, rule.id)
    assert (await create_invoice(conn, texan)).tax == D("5.00")


async def test_tax_rules_refuse_bad_input_per_field(conn: asyncpg.Connection) -> None:
    with pytest.raises(DomainError) as refused:
        await tax.set_tax_rule(conn, country="XX", state=None, name="", rate="101")
    assert field_errors(refused.value) == {
        ("country", ErrorCode.INVALID),
        ("name", ErrorCode.REQUIRED),
        ("rate", ErrorCode.INVALID),
    }
    # The API shows rates like amounts, with two places: a third would be lost on the way.
    with pytest.raises(DomainError) as too_precise:
        await tax.set_tax_rule(conn, country="US", state="NY", name="NY", rate="8.875")
    assert field_errors(too_precise.value) == {("rate", ErrorCode.INVALID)}


async def test_1_5_a_tax_exempt_client_pays_no_tax(conn: asyncpg.Connection) -> None:
    await tax.set_tax_rule(conn, country="GB", state=None, name="VAT", rate="20")
    taxed = await add_client(conn, country="GB")
    exempt = await add_client(conn, email="charity@example.com", country="GB", tax_exempt=True)

    assert (await create_invoice(conn, taxed)).tax == D("20.00")
    untaxed = await create_invoice(conn, exempt)
    assert (untaxed.tax, untaxed.total) == (D("0.00"), D("100.00"))


async def test_2_5_invoices_are_addressed_to_the_default_billing_contact(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn, company_name="Demo Company", city="London", country="GB")
    before = await create_invoice(conn, client)
    contact = await contact_services.add_contact(
        conn,
        client.id,
        {
            "first_name": "Bill",
            "last_name": "Payer",
            "email": "accounts@example.com",
            "company_name": "Demo Accounts",
            "city": "Leeds",
            "country": "GB",
        },
        staff_id=None,
        may_grant_access=True,
    )
    await contact_services.set_billing_contact(conn, client.id, contact.id, staff_id=None)

    after = await create_invoice(conn, client)

    assert (before.billed_to.name, before.billed_to.company_name, before.billed_to.city) == (
        "Joe Bloggs",
        "Demo Company",
        "London",
    )
    assert after.billed_to == BilledTo(
        name="Bill Payer",
        company_name="Demo Accounts",
        address1=None,
        address2=None,
        city="Leeds",
        state=None,
        postcode=None,
        country="GB",
    )


async def test_staff_invoices_refuse_bad_input_per_field(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)

    with pytest.raises(DomainError) as empty:
        await create_invoice(conn, client, [])
    with pytest.raises(DomainError) as bad:
        await create_invoice(
            conn,
            client,
            [{"description": "", "amount": "1.00"}, {"description": "X", "amount": "0"}],
            payment_method="nosuchgateway",
        )

    assert field_errors(empty.value) == {("items", ErrorCode.REQUIRED)}
    assert field_errors(bad.value) == {
        ("items.0.description", ErrorCode.REQUIRED),
        ("items.1.amount", ErrorCode.INVALID),
        ("payment_method", ErrorCode.INVALID),
    }
    assert await conn.fetchval("SELECT count(*) FROM invoices") == 0


async def test_3_6_an_invoice_whose_tax_takes_it_past_the_largest_total_is_refused(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn, country="GB")
    await tax.set_tax_rule(conn, country="GB", state=None, name="VAT", rate="20")

    with pytest.raises(DomainError) as refused:
        # 833,333,333,333.33 and 20 % are 999,999,999,999.996, rounded up past the maximum.
        await create_invoice(conn, client, [{"description": "Big", "amount": "833333333333.33"}])

    assert field_errors(refused.value) == {("items", ErrorCode.INVALID)}
    assert await conn.fetchval("SELECT count(*) FROM invoices") == 0
    largest = await create_invoice(
        conn, client, [{"description": "Big", "amount": "833333333333.32"}]
    )
    assert (largest.number, largest.tax, largest.total) == (
        1,
        D("166666666666.66"),
        D("999999999999.98"),
    )
    untaxed = await create_invoice(
        conn,
        client,
        [
            {"description": "Big", "amount": "0.01"},
            {"description": "Untaxed", "amount": "999999999999.98", "taxed": False},
        ],
    )
    assert (untaxed.tax, untaxed.total) == (D("0.00"), MAX_AMOUNT)


async def test_3_6_an_order_of_two_maximal_items_is_refused_and_changes_nothing(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)

    with pytest.raises(DomainError) as refused:
        await place(
            conn,
            client,
            (ItemKind.SERVICE, "Big", "999999999999.99"),
            (ItemKind.ADDON, "Bigger", "999999999999.99"),
        )

    assert field_errors(refused.value) == {("items", ErrorCode.INVALID)}
    for table in ("orders", "services", "addons", "invoices"):
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table


# --- 3.5 credit applied to new invoices --------------------------------------------------------


async def test_3_5_credit_is_applied_to_a_new_invoice_and_lowers_the_amount_due(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    await give_credit(conn, client, "30.00")

    invoice = await create_invoice(conn, client)

    assert (invoice.status, invoice.credit, invoice.balance) == (
        InvoiceStatus.UNPAID,
        D("30.00"),
        D("70.00"),
    )
    assert await balance_and_log(conn, client.id) == (D("0.00"), D("0.00"))
    [applied, _] = (await entries_by_client(conn, [client.id]))[client.id]
    assert (applied.amount, applied.invoice_id, applied.description) == (
        D("-30.00"),
        invoice.id,
        f"Credit Applied to Invoice #{invoice.number}",
    )


async def test_3_5_credit_covering_the_total_marks_the_invoice_paid(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    await give_credit(conn, client, "250.00")

    invoice = await create_invoice(conn, client)
    order = await place(conn, client, (ItemKind.SERVICE, "Hosting", "10.00"))

    assert (invoice.status, invoice.credit, invoice.balance) == (
        InvoiceStatus.PAID,
        D("100.00"),
        D("0.00"),
    )
    assert invoice.paid_at is not None
    assert (await invoice_of(conn, order)).status is InvoiceStatus.PAID
    assert await balance_and_log(conn, client.id) == (D("140.00"), D("140.00"))


async def test_3_5_automatic_credit_can_be_switched_off(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    await give_credit(conn, client, "30.00")
    await update_general_settings(conn, apply_credit_automatically=False)

    invoice = await create_invoice(conn, client)

    assert (invoice.credit, invoice.balance) == (D("0.00"), D("100.00"))
    assert await balance_and_log(conn, client.id) == (D("30.00"), D("30.00"))


# --- payments and 3.4 overpayment ------------------------------------------------------------


async def test_a_payment_is_a_transaction_and_covering_the_balance_marks_the_invoice_paid(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn, currency="EUR")
    invoice = await create_invoice(conn, client)

    part = await pay_by_transfer(conn, invoice.id, "40.00", fees="0.50")
    rest = await payments.record_payment(
        conn,
        invoice.id,
        amount="60",
        gateway="mailin",
        transaction_id="CHQ-1",
        staff_id=None,
        client_area_url=CLIENT_AREA_URL,
    )

    assert (part.invoice.status, part.invoice.balance) == (InvoiceStatus.UNPAID, D("60.00"))
    assert (rest.invoice.status, rest.invoice.balance) == (InvoiceStatus.PAID, D("0.00"))
    assert (part.transaction.amount, part.transaction.fees, part.transaction.currency) == (
        D("40.00"),
        D("0.50"),
        "EUR",
    )
    assert (rest.transaction.gateway, rest.transaction.transaction_id) == ("mailin", "CHQ-1")
    assert (await payments.transactions_by_client(conn, [client.id]))[client.id] == [
        rest.transaction,
        part.transaction,
    ]


async def test_3_4_an_overpayment_credits_the_excess_naming_the_invoice(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    invoice = await create_invoice(conn, client)

    paid = await pay_by_transfer(conn, invoice.id, "130.00")

    assert (paid.invoice.status, paid.invoice.balance) == (InvoiceStatus.PAID, D("0.00"))
    assert paid.transaction.amount == D("130.00")
    assert await balance_and_log(conn, client.id) == (D("30.00"), D("30.00"))
    [entry] = (await entries_by_client(conn, [client.id]))[client.id]
    assert (entry.amount, entry.invoice_id, entry.description) == (
        D("30.00"),
        invoice.id,
        f"Credit for Overpayment of Invoice #{invoice.number}",
    )


async def test_3_6_an_overpayment_past_the_largest_balance_is_refused_and_changes_nothing(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    invoice = await create_invoice(conn, client)
    await give_credit(conn, client, "999999999950.00")

    with pytest.raises(DomainError) as refused:
        await pay_by_transfer(conn, invoice.id, "150.00")

    assert field_errors(refused.value) == {("amount", ErrorCode.INVALID)}
    assert await invoices.get_invoice(conn, invoice.id) == invoice
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 0
    assert await balance_and_log(conn, client.id) == (D("999999999950.00"), D("999999999950.00"))
    paid = await pay_by_transfer(conn, invoice.id, "149.99")
    assert paid.invoice.status == InvoiceStatus.PAID
    assert await balance_and_log(conn, client.id) == (MAX_AMOUNT, MAX_AMOUNT)


async def test_3_4_fees_are_never_more_than_the_payment(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    invoice = await create_invoice(conn, client)

    with pytest.raises(DomainError) as refused:
        await pay_by_transfer(conn, invoice.id, "1.00", fees="50.00")

    assert field_errors(refused.value) == {("fees", ErrorCode.INVALID)}
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 0
    paid = await pay_by_transfer(conn, invoice.id, "1.00", fees="1.00")
    assert paid.transaction.fees == D("1.00")


async def test_payments_refuse_bad_input_cancelled_invoices_and_repeated_gateway_transactions(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    invoice = await create_invoice(conn, client)
    other = await create_invoice(conn, client)
    await payments.record_payment(
        conn, invoice.id, amount="100.00", gateway="banktransfer", transaction_id="T1",
        staff_id=None,client_area_url=CLIENT_AREA_URL,
    )  # fmt: skip

    with pytest.raises(DomainError) as bad:
        await payments.record_payment(
            conn,
            other.id,
            amount="0",
            gateway="nosuch",
            fees="-1",
            staff_id=None,
            client_area_url=CLIENT_AREA_URL,
        )
    # A paid invoice takes payments (they become credit, SPEC 3.4); a cancelled one none.
    await conn.execute("UPDATE invoices SET status = 'CANCELLED' WHERE id = $1", invoice.id)
    with pytest.raises(DomainError) as cancelled:
        await pay_by_transfer(conn, invoice.id, "1.00")
    with pytest.raises(DomainError) as repeated:
        await payments.record_payment(
            conn, other.id, amount="1.00", gateway="banktransfer", transaction_id="T1",
            staff_id=None,client_area_url=CLIENT_AREA_URL,
        )  # fmt: skip

    assert field_errors(bad.value) == {
        ("amount", ErrorCode.INVALID),
        ("fees", ErrorCode.INVALID),
        ("gateway", ErrorCode.INVALID),
    }
    assert field_errors(cancelled.value) == {("invoice_id", ErrorCode.INVALID)}
    assert field_errors(repeated.value) == {("transaction_id", ErrorCode.CONFLICT)}
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 1
    unchanged = await invoices.get_invoice(conn, other.id)
    assert unchanged is not None and unchanged.balance == D("100.00")


# --- 1.5 payment method ------------------------------------------------------------------------


async def payment_methods(conn: asyncpg.Connection, client_id: int) -> dict[str, list[str]]:
    found = {}
    for table in ("services", "addons", "domains", "invoices"):
        found[table] = [
            row["payment_method"]
            for row in await conn.fetch(
                f"SELECT payment_method FROM {table} WHERE client_id = $1 ORDER BY id", client_id
            )
        ]
    return found


async def test_1_5_changing_the_payment_method_reaches_items_and_unpaid_invoices(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    other = await add_client(conn, email="other@example.com")
    order = await place(
        conn,
        client,
        (ItemKind.SERVICE, "Hosting", "10.00"),
        (ItemKind.ADDON, "Backups", "1.00"),
        (ItemKind.DOMAIN, "a.com", "9.00"),
        payment_method="banktransfer",
    )
    paid = await create_invoice(conn, client, payment_method="banktransfer")
    await pay_by_transfer(conn, paid.id, "100.00")
    await place(conn, other, (ItemKind.SERVICE, "Hosting", "10.00"), payment_method="mailin")

    updated = await services.set_client_payment_method(conn, client.id, "testcard", staff_id=None)

    assert updated.client.default_payment_method == "testcard"
    assert await payment_methods(conn, client.id) == {
        "services": ["testcard"],
        "addons": ["testcard"],
        "domains": ["testcard"],
        # The order's invoice is unpaid and follows; the paid one keeps how it was paid.
        "invoices": ["testcard", "banktransfer"],
    }
    assert (await invoice_of(conn, order)).payment_method == "testcard"
    assert (await payment_methods(conn, other.id))["services"] == ["mailin"]
    # Future ones too: a new order and invoice without a method take the new default.
    later = await place(conn, client, (ItemKind.SERVICE, "Mail", "1.00"))
    assert later.payment_method == "testcard"


async def test_1_5_the_client_wide_update_also_sets_the_payment_method_everywhere(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    await place(conn, client, (ItemKind.SERVICE, "Hosting", "10.00"), payment_method="mailin")

    await services.update_client(
        conn, client.id, {"default_payment_method": "banktransfer"}, staff_id=None
    )

    assert await payment_methods(conn, client.id) == {
        "services": ["banktransfer"],
        "addons": [],
        "domains": [],
        "invoices": ["banktransfer"],
    }


async def test_1_5_an_unknown_payment_method_changes_nothing(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    await place(conn, client, (ItemKind.SERVICE, "Hosting", "10.00"), payment_method="mailin")

    with pytest.raises(DomainError) as refused:
        await services.set_client_payment_method(conn, client.id, "nosuch", staff_id=None)
    with pytest.raises(DomainError) as empty:
        await services.set_client_payment_method(conn, client.id, " ", staff_id=None)

    assert field_errors(refused.value) == {("payment_method", ErrorCode.INVALID)}
    assert field_errors(empty.value) == {("payment_method", ErrorCode.REQUIRED)}
    assert (await payment_methods(conn, client.id))["services"] == ["mailin"]


# --- 1.9 the service status filter of a staff session ---------------------------------------


async def test_1_9_the_product_status_filter_is_kept_with_the_session(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    session_id = await conn.fetchval(
        """INSERT INTO sessions (token_hash, login_id, expires_at)
           VALUES ('\\x01', $1, now() + interval '1 hour') RETURNING id""",
        client.owner_login_id,
    )
    chosen = StatusFilter(
        frozenset({ServiceStatus.PENDING, ServiceStatus.ACTIVE}), frozenset({DomainStatus.GRACE})
    )

    assert await status_filter.status_filter(conn, session_id) == status_filter.NOTHING_CHOSEN
    await status_filter.remember_status_filter(conn, session_id, chosen)
    assert await status_filter.status_filter(conn, session_id) == chosen
    await status_filter.remember_status_filter(conn, session_id, status_filter.NOTHING_CHOSEN)
    assert await status_filter.status_filter(conn, session_id) == status_filter.NOTHING_CHOSEN


# --- idempotency keys on the money operations ------------------------------------------------


async def test_a_retried_order_invoice_or_payment_with_its_key_has_one_effect(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    login = client.owner_login_id
    line = [{"kind": ItemKind.SERVICE, "name": "Hosting", "amount": "10.00"}]

    async def order() -> Order:
        return await orders.place_order(
            conn, client.id, items=line, payment_method=None, staff_id=None,
            login_id=login, idempotency_key="order-1",
        )  # fmt: skip

    async def invoice() -> Invoice:
        return await invoices.create_invoice(
            conn, client.id, items=[{"description": "Setup", "amount": D("5")}], due_date=None,
            payment_method=None, staff_id=None, login_id=login, idempotency_key="invoice-1",
        )  # fmt: skip

    async def payment(amount: str = "5.00") -> payments.Payment:
        return await payments.record_payment(
            conn, first_invoice.id, amount=amount, gateway="banktransfer", staff_id=None,
            login_id=login, idempotency_key="payment-1",client_area_url=CLIENT_AREA_URL,
        )  # fmt: skip

    first_order, again_order = await order(), await order()
    first_invoice, again_invoice = await invoice(), await invoice()
    first_payment, again_payment = await payment(), await payment("5")

    assert first_order == again_order
    assert first_invoice == again_invoice
    assert first_payment.transaction == again_payment.transaction
    assert await conn.fetchval("SELECT count(*) FROM orders") == 1
    assert await conn.fetchval("SELECT count(*) FROM invoices") == 2
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 1
    with pytest.raises(DomainError) as other_arguments:
        await payment("4.00")
    assert field_errors(other_arguments.value) == {
        ("idempotencyKey", ErrorCode.IDEMPOTENCY_CONFLICT)
    }
