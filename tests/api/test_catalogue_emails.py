"""SPEC 8.1, 8.3 and 14 through GraphQL: a client's order is confirmed by email; accepted
services are welcomed and domains confirmed, a suspension and a carried-out cancellation are
told, and a domain's renewal notice goes at the automation settings' offsets. Each is a
PRODUCT or DOMAIN email, in text and HTML, copied to the contacts who ticked its category."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx

from domain.auth import sessions
from domain.auth.permissions import StaffRole
from domain.automation import runs
from domain.billing import orders
from domain.billing.models import ItemKind
from domain.catalogue.emails import queue_domain_renewal_notices
from domain.emails.rendering import TemplateRenderer
from tests.api.test_catalogue import PLACE_MY_ORDER, RUN_TOOLS, catalogue, item
from tests.api.test_credit import TTL, open_staff_session, payload_of
from tests.conftest import CLIENT_AREA_URL, add_client, gid

ACCEPT = "mutation($id: ID!) { acceptOrder(id: $id) { order { id } errors { code } } }"
SUSPEND = """mutation($id: ID!) { setServiceStatus(id: $id, status: SUSPENDED) {
  service { status } errors { code } } }"""
CANCEL = """mutation($id: ID!) { requestCancellation(serviceId: $id, type: IMMEDIATE,
  reason: "Done with it") { request { id } errors { code } } }"""


async def emails(conn: asyncpg.Connection) -> list[tuple[str, str, str]]:
    rows = await conn.fetch("SELECT template, category, to_address FROM emails ORDER BY id")
    return [(row["template"], row["category"], row["to_address"]) for row in rows]


async def rendered(conn: asyncpg.Connection, template: str) -> Any:
    context = await conn.fetchval(
        "SELECT context FROM emails WHERE template = $1 ORDER BY id LIMIT 1", template
    )
    return TemplateRenderer().render(template, context)


async def a_client_with_a_product_contact(conn: asyncpg.Connection) -> tuple[int, str]:
    """Joe, with a contact who ticked PRODUCT (not DOMAIN); Joe's session."""
    client = await add_client(conn, email="joe@example.com")
    await conn.execute(
        """INSERT INTO contacts (client_id, first_name, last_name, email, email_preferences)
           VALUES ($1, 'Pat', 'Products', 'pat@example.com', '{PRODUCT}')""",
        client.id,
    )
    return client.id, await sessions.start_session(conn, client.owner_login_id, ttl=TTL)


async def test_14_1_a_client_order_is_confirmed_by_email(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    made = await catalogue(conn)
    _, token = await a_client_with_a_product_contact(conn)

    placed = await payload_of(api, token, PLACE_MY_ORDER, input={"items": [item(made["Hosting"])]})

    assert placed["errors"] == []
    assert await emails(conn) == [("order_confirmation", "GENERAL", "joe@example.com")]
    confirmation = await rendered(conn, "order_confirmation")
    assert "Hosting: 10.00 USD MONTHLY" in confirmation.body
    assert "totals 15.00 USD" in confirmation.body  # with the setup fee
    assert confirmation.html is not None and '/invoices">' in confirmation.html


async def test_8_3_accepting_welcomes_services_and_confirms_domains_with_product_copies(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client_id, token = await a_client_with_a_product_contact(conn)
    order = await orders.place_order(
        conn,
        client_id,
        items=[
            {"kind": ItemKind.SERVICE, "name": "Hosting", "amount": "10.00"},
            {"kind": ItemKind.DOMAIN, "name": "joe.com", "amount": "12.00"},
        ],
        payment_method=None,
        staff_id=None,
    )
    staff = await open_staff_session(conn, StaffRole.BILLING, "billing@staff.example.com")
    service = gid("Service", order.items[0].id)

    await payload_of(api, staff, ACCEPT, id=gid("Order", order.id))
    await payload_of(api, staff, SUSPEND, id=service)
    await payload_of(api, staff, SUSPEND, id=service)  # already suspended: nothing more
    await payload_of(api, token, CANCEL, id=service)
    await runs.perform_run(conn, date.today(), RUN_TOOLS)

    assert [e for e in await emails(conn) if e[0] != "invoice_created"] == [
        ("service_welcome", "PRODUCT", "joe@example.com"),
        ("service_welcome", "PRODUCT", "pat@example.com"),
        ("domain_registration_confirmation", "DOMAIN", "joe@example.com"),
        ("service_suspended", "PRODUCT", "joe@example.com"),
        ("service_suspended", "PRODUCT", "pat@example.com"),
        ("service_cancellation_confirmation", "PRODUCT", "joe@example.com"),
        ("service_cancellation_confirmation", "PRODUCT", "pat@example.com"),
    ]
    welcome = await rendered(conn, "service_welcome")
    assert welcome.subject == "Your Hosting is ready"
    assert "10.00 USD MONTHLY" in welcome.body and welcome.html is not None
    registered = await rendered(conn, "domain_registration_confirmation")
    assert registered.subject == "Your domain joe.com is registered"


async def test_14_2_a_domain_renewal_notice_goes_at_each_offset_of_the_settings(
    conn: asyncpg.Connection,
) -> None:
    client_id, _ = await a_client_with_a_product_contact(conn)
    order = await orders.place_order(
        conn,
        client_id,
        items=[{"kind": ItemKind.DOMAIN, "name": "joe.com", "amount": "12.00"}],
        payment_method=None,
        staff_id=None,
    )
    await orders.accept_order(conn, order.id, staff_id=None, client_area_url=CLIENT_AREA_URL)
    expiry = date.today() + timedelta(days=60)
    await conn.execute("UPDATE domains SET next_due_date = $1, auto_renew = false", expiry)

    counts = [
        (await runs.perform_run(conn, expiry - timedelta(days=days), RUN_TOOLS)).count(
            "domain_renewal_notices_sent"
        )
        for days in (31, 30, 8, 7)
    ]

    assert counts == [0, 1, 0, 1]  # the defaults: 30 and 7 days before
    notices = [e for e in await emails(conn) if e[0] == "domain_renewal_notice"]
    assert notices == [("domain_renewal_notice", "DOMAIN", "joe@example.com")] * 2
    notice = await rendered(conn, "domain_renewal_notice")
    assert notice.subject == f"Your domain joe.com expires on {expiry.isoformat()}"
    assert "Automatic renewal is off" in notice.body


async def test_14_2_renewal_notices_of_many_domains_are_queued_by_one_statement(
    conn: asyncpg.Connection,
) -> None:
    """The daily run's notices are set-wise: their statements do not grow with the domains."""
    for n in range(3):
        client = await add_client(conn, email=f"owner{n}@example.com")
        await conn.execute(
            """INSERT INTO contacts (client_id, first_name, last_name, email, email_preferences)
               VALUES ($1, 'Dee', 'Domains', $2, '{DOMAIN}')""",
            client.id,
            f"dee{n}@example.com",
        )
        order = await orders.place_order(
            conn,
            client.id,
            items=[{"kind": ItemKind.DOMAIN, "name": f"site{n}.com", "amount": "12.00"}],
            payment_method=None,
            staff_id=None,
        )
        await orders.accept_order(conn, order.id, staff_id=None, client_area_url=CLIENT_AREA_URL)
    as_of = date.today()
    await conn.execute("UPDATE domains SET next_due_date = $1", as_of + timedelta(days=30))
    await conn.execute("DELETE FROM emails")
    statements: list[str] = []
    conn.add_query_logger(lambda record: statements.append(record.query))

    queued = await queue_domain_renewal_notices(
        conn, as_of=as_of, offsets=[30], client_area_url=CLIENT_AREA_URL
    )
    await asyncio.sleep(0)  # loggers run soon after their statement: let the last land

    assert queued == 3 and len(statements) == 2  # the domains due, then their emails
    assert sorted(e[2] for e in await emails(conn)) == [
        *(f"dee{n}@example.com" for n in range(3)),
        *(f"owner{n}@example.com" for n in range(3)),
    ]
    notice = await rendered(conn, "domain_renewal_notice")
    assert "renews automatically" in notice.body and "12.00 USD" in notice.body
