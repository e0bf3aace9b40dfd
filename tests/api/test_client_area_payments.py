"""The acceptance walk-through of issue 21 (SPEC 13.2, 13.5, 14): a client in the client area
logs in, sees its unpaid invoices, pays one with its credit and another with its stored card
through Stripe (a real localstripe server), and downloads the paid invoice's PDF; and when
Stripe cannot be reached, the client is told so and the invoice stays unpaid.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import httpx
import pytest

from app.settings import Settings
from app.web import create_app
from domain.auth.permissions import StaffRole
from domain.billing.invoices import create_invoice
from domain.credit.services import add_credit
from tests.api.test_credit import open_staff_session, payload_of
from tests.api.test_payments import PAY
from tests.api.test_stripe import store
from tests.conftest import add_client, gid, gql, login
from tests.domain.test_invoice_pdf import pdf_text
from tests.stripe_fixtures import with_stripe
from tests.stripe_server import LocalStripe

PASSWORD = "client-password-1"
MY_INVOICES = "query { me { invoices { id number status balance } } }"


async def stripe_client_with_invoices(conn: asyncpg.Connection) -> tuple[int, list[int]]:
    """A client with a password, paying through Stripe, with 15.00 of credit and two unpaid
    invoices (15.00 and 42.50 USD)."""
    client = await add_client(conn, password=PASSWORD, default_payment_method="stripe")
    invoices = [
        await create_invoice(
            conn,
            client.id,
            items=[{"description": description, "amount": amount, "taxed": False}],
            due_date=None,
            payment_method="stripe",
            staff_id=None,
        )
        for description, amount in (("Domain renewal", "15.00"), ("Hosting", "42.50"))
    ]
    # After the invoices, which would otherwise take it when made (SPEC 3.5).
    await add_credit(
        conn, client.id, amount="15.00", description="Goodwill", staff_id=None, login_id=None
    )
    return client.id, [invoice.id for invoice in invoices]


async def test_14_a_client_pays_with_credit_and_through_stripe_and_downloads_the_pdf(
    stripe_api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client_id, (renewal, hosting) = await stripe_client_with_invoices(conn)
    staff = await open_staff_session(conn, StaffRole.ADMIN, "admin@staff.example.com")
    assert (await store(stripe_api, staff, client_id))["errors"] == []

    token = await login(stripe_api, "joe@example.com", PASSWORD)
    mine = (await gql(stripe_api, MY_INVOICES, token=token))["data"]["me"]["invoices"]
    assert sorted((i["status"], i["balance"]) for i in mine) == [
        ("UNPAID", "15.00"),
        ("UNPAID", "42.50"),
    ]

    by_credit = await payload_of(
        stripe_api, token, PAY, id=gid("Invoice", renewal), source="CREDIT"
    )
    assert by_credit["errors"] == [] and by_credit["invoice"]["status"] == "PAID"
    by_card = await payload_of(
        stripe_api, token, PAY, id=gid("Invoice", hosting), source="STORED_CARD", key="web-1"
    )
    assert by_card["errors"] == []
    assert by_card["invoice"]["status"] == "PAID"
    assert (by_card["transaction"]["amount"], by_card["transaction"]["gateway"]) == (
        "42.50",
        "stripe",
    )
    mine = (await gql(stripe_api, MY_INVOICES, token=token))["data"]["me"]["invoices"]
    assert {(i["status"], i["balance"]) for i in mine} == {("PAID", "0.00")}

    response = await stripe_api.get(
        f"/invoices/{gid('Invoice', hosting)}.pdf", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    lines = pdf_text(response.content).splitlines()
    number = next(i["number"] for i in mine if i["id"] == gid("Invoice", hosting))
    assert f"Invoice #{number}" in lines
    assert "Hosting 42.50 USD" in lines and "Total 42.50 USD" in lines
    payment = f"(Stripe, {by_card['transaction']['transactionId']}) -42.50 USD"
    assert any(line.startswith("Payment ") and line.endswith(payment) for line in lines), lines
    assert "Balance due 0.00 USD" in lines


@pytest.fixture
async def passing_stripe(
    settings: Settings, pool: asyncpg.Pool
) -> AsyncIterator[tuple[httpx.AsyncClient, LocalStripe]]:
    """The app against a localstripe server of its own, which the test may stop."""
    server = LocalStripe().start()
    await pool.execute("UPDATE payment_gateways SET enabled = true WHERE name = 'stripe'")
    app = create_app(with_stripe(settings, server))
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
                yield api, server
    finally:
        server.stop()


async def test_13_2_with_stripe_unreachable_the_client_is_told_and_the_invoice_stays_unpaid(
    passing_stripe: tuple[httpx.AsyncClient, LocalStripe], conn: asyncpg.Connection
) -> None:
    api, server = passing_stripe
    client_id, (_, hosting) = await stripe_client_with_invoices(conn)
    staff = await open_staff_session(conn, StaffRole.ADMIN, "admin@staff.example.com")
    assert (await store(api, staff, client_id))["errors"] == []
    token = await login(api, "joe@example.com", PASSWORD)
    server.stop()

    refused = await payload_of(
        api, token, PAY, id=gid("Invoice", hosting), source="STORED_CARD", key="web-1"
    )
    assert refused["invoice"] is None
    assert refused["errors"] == [
        {
            "field": "source",
            "code": "GATEWAY_UNAVAILABLE",
            "message": "Stripe could not be reached: the payment did not go through. "
            "Try again later.",
        }
    ]
    row = await conn.fetchrow("SELECT status, balance FROM invoices WHERE id = $1", hosting)
    assert tuple(row) == ("UNPAID", Decimal("42.50"))
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 0
    # Nor can a card be stored meanwhile: nothing changes.
    refused_card = await store(api, staff, client_id, "5555555555554444")
    assert [e["code"] for e in refused_card["errors"]] == ["GATEWAY_UNAVAILABLE"]
    assert await conn.fetchval("SELECT last_four FROM cards") == "4242"
