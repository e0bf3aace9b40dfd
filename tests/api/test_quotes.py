"""SPEC 14.4 and 14.1 through GraphQL: staff save and send quotes, the client area lists the
sent ones and accepts one before its date, which makes its invoice (and orders the products
its lines name, at the quote's prices); expired and accepted quotes are refused with their
codes; another client's quote is not found."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest

from domain.auth import sessions
from domain.auth.permissions import StaffRole
from domain.billing import orders
from domain.billing.models import ItemKind
from domain.catalogue import products
from domain.emails.rendering import TemplateRenderer
from tests.api.test_credit import TTL, add_sub_account, open_staff_session, payload_of
from tests.conftest import CLIENT_AREA_URL, add_client, gid, gql, pk

ERRORS = "errors { field code message }"
QUOTE = (
    "quote { id number status validUntil currency subtotal "
    "lines { description amount productId billingCycle } }"
)
SAVE = f"""
mutation Save($client: ID!, $input: QuoteInput!) {{
  saveQuote(clientId: $client, input: $input) {{ {QUOTE} {ERRORS} }}
}}"""
SEND = f"mutation Send($id: ID!) {{ sendQuote(id: $id) {{ {QUOTE} {ERRORS} }} }}"
ACCEPT = f"""
mutation Accept($id: ID!) {{
  acceptQuote(id: $id) {{
    quote {{ id status invoice {{ id status total items {{ description amount }} }} }} {ERRORS}
  }}
}}"""
MY_QUOTES = "query { me { quotes { id status subtotal } } }"
LINES = [
    {"description": "Website design", "amount": "100.00"},
    {"description": "Hosting setup", "amount": "20.50"},
]


@pytest.fixture
async def staff_token(conn: asyncpg.Connection) -> str:
    return await open_staff_session(conn, StaffRole.BILLING, "billing@staff.example.com")


async def sent_quote(
    api: httpx.AsyncClient, staff_token: str, client_id: int, valid_until: date | None = None
) -> str:
    """A quote of the client's, saved and sent; its id."""
    until = valid_until or date.today() + timedelta(days=30)
    saved = await payload_of(
        api,
        staff_token,
        SAVE,
        client=gid("Client", client_id),
        input={"lines": LINES, "validUntil": until.isoformat()},
    )
    assert saved["errors"] == []
    sent = await payload_of(api, staff_token, SEND, id=saved["quote"]["id"])
    assert sent["errors"] == []
    quote_id: str = sent["quote"]["id"]
    return quote_id


async def holder_token(conn: asyncpg.Connection, client_id: int) -> str:
    login_id = await conn.fetchval("SELECT owner_login_id FROM clients WHERE id = $1", client_id)
    return await sessions.start_session(conn, login_id, ttl=TTL)


async def product(conn: asyncpg.Connection, kind: ItemKind = ItemKind.SERVICE, **more: Any) -> int:
    """A catalogue product of `kind` priced 10.00 USD a month (a domain's transfer and
    renewal prices too); its row id."""
    prices = {"transfer_amount": "8.00", "renew_amount": "12.00"} if kind is ItemKind.DOMAIN else {}
    saved = await products.save_product(
        conn,
        None,
        {
            "kind": kind,
            "name": f"Catalogue {kind.value}",
            "pricing": [{"currency": "USD", "cycle": "MONTHLY", "amount": "10.00", **prices}],
            **more,
        },
    )
    return saved.id


async def test_14_4_staff_save_a_draft_the_client_area_does_not_see(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)
    until = (date.today() + timedelta(days=10)).isoformat()
    hosting = gid("Product", await product(conn))
    lines = [LINES[0], {**LINES[1], "productId": hosting}]

    saved = await payload_of(
        api,
        staff_token,
        SAVE,
        client=gid("Client", client.id),
        input={"lines": lines, "validUntil": until},
    )

    assert saved["errors"] == []
    quote = saved["quote"]
    assert quote["status"] == "DRAFT" and quote["subtotal"] == "120.50"
    assert quote["currency"] == "USD" and quote["validUntil"] == until
    assert quote["lines"][1] == {**lines[1], "billingCycle": "MONTHLY"}
    assert quote["lines"][0] == {**LINES[0], "productId": None, "billingCycle": None}
    stored = await conn.fetch("SELECT product_id FROM quote_lines ORDER BY id")
    assert [row["product_id"] for row in stored] == [None, pk(hosting, "Product")]
    mine = await gql(api, MY_QUOTES, token=await holder_token(conn, client.id))
    assert mine["data"]["me"]["quotes"] == []
    staff_view = await gql(
        api,
        "query($id: ID!) { client(id: $id) { quotes { id status } } }",
        {"id": gid("Client", client.id)},
        token=staff_token,
    )
    assert staff_view["data"]["client"]["quotes"] == [{"id": quote["id"], "status": "DRAFT"}]
    assert await conn.fetchval("SELECT action FROM audit_log ORDER BY id DESC LIMIT 1") == (
        "quote.saved"
    )


async def test_14_4_saving_again_rewrites_the_lines_and_bad_lines_are_refused(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)
    until = (date.today() + timedelta(days=10)).isoformat()
    first = await payload_of(
        api,
        staff_token,
        SAVE,
        client=gid("Client", client.id),
        input={"lines": LINES, "validUntil": until},
    )
    quote_id = first["quote"]["id"]

    rewritten = await payload_of(
        api,
        staff_token,
        SAVE,
        client=gid("Client", client.id),
        input={"id": quote_id, "lines": [LINES[0]], "validUntil": until},
    )
    refused = await payload_of(
        api,
        staff_token,
        SAVE,
        client=gid("Client", client.id),
        input={
            "lines": [{"description": " ", "amount": "-1.00"}],
            "validUntil": (date.today() - timedelta(days=1)).isoformat(),
        },
    )

    assert rewritten["quote"]["id"] == quote_id and rewritten["quote"]["subtotal"] == "100.00"
    assert await conn.fetchval("SELECT count(*) FROM quote_lines") == 1
    assert {(e["field"], e["code"]) for e in refused["errors"]} == {
        ("lines.0.description", "REQUIRED"),
        ("lines.0.amount", "INVALID"),
        ("validUntil", "INVALID"),
    }
    assert await conn.fetchval("SELECT count(*) FROM quotes") == 1


async def test_14_4_sending_emails_the_quote_with_its_link_in_text_and_html(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)

    quote_id = await sent_quote(api, staff_token, client.id)

    email = await conn.fetchrow("SELECT * FROM emails WHERE template = 'quote_delivered'")
    assert email["to_address"] == "joe@example.com" and email["category"] == "GENERAL"
    rendered = TemplateRenderer().render("quote_delivered", email["context"])
    # The link to this quote's page under the API's client area, its id URL-encoded.
    link = f"{email['context']['client_area_url']}/quotes/{quote(quote_id, safe='')}"
    assert rendered.subject == f"Quote #{pk(quote_id, 'Quote')}"
    assert link in rendered.body and "Hosting setup: 20.50 USD" in rendered.body
    assert rendered.html is not None and f'href="{link}"' in rendered.html
    mine = await gql(api, MY_QUOTES, token=await holder_token(conn, client.id))
    assert mine["data"]["me"]["quotes"] == [
        {"id": quote_id, "status": "SENT", "subtotal": "120.50"}
    ]


async def test_14_4_accepting_a_sent_quote_makes_its_invoice(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)
    quote_id = await sent_quote(api, staff_token, client.id)

    accepted = await payload_of(api, await holder_token(conn, client.id), ACCEPT, id=quote_id)

    assert accepted["errors"] == []
    assert accepted["quote"]["status"] == "ACCEPTED"
    invoice = accepted["quote"]["invoice"]
    assert invoice["status"] == "UNPAID" and invoice["total"] == "120.50"
    assert invoice["items"] == [
        {"description": line["description"], "amount": line["amount"]} for line in LINES
    ]
    assert await conn.fetchval("SELECT client_id FROM invoices") == client.id


async def test_14_4_an_accepted_quote_is_refused_a_second_acceptance_and_changes(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)
    quote_id = await sent_quote(api, staff_token, client.id)
    token = await holder_token(conn, client.id)
    await payload_of(api, token, ACCEPT, id=quote_id)

    again = await payload_of(api, token, ACCEPT, id=quote_id)
    resend = await payload_of(api, staff_token, SEND, id=quote_id)
    rewrite = await payload_of(
        api,
        staff_token,
        SAVE,
        client=gid("Client", client.id),
        input={"id": quote_id, "lines": LINES, "validUntil": date.today().isoformat()},
    )

    for payload, field in ((again, "id"), (resend, "id"), (rewrite, "input.id")):
        assert payload["quote"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, "ALREADY_ACCEPTED")]
    assert await conn.fetchval("SELECT count(*) FROM invoices") == 1


async def test_14_4_an_expired_quote_cannot_be_accepted(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)
    quote_id = await sent_quote(api, staff_token, client.id)
    await conn.execute("UPDATE quotes SET valid_until = current_date - 1")

    refused = await payload_of(api, await holder_token(conn, client.id), ACCEPT, id=quote_id)
    mine = await gql(api, MY_QUOTES, token=await holder_token(conn, client.id))

    assert refused["quote"] is None
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("id", "EXPIRED")]
    assert mine["data"]["me"]["quotes"][0]["status"] == "EXPIRED"
    assert await conn.fetchval("SELECT count(*) FROM invoices") == 0


async def test_14_4_another_clients_quote_and_a_draft_are_not_found(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    owner = await add_client(conn)
    other = await add_client(conn, email="other@example.com")
    quote_id = await sent_quote(api, staff_token, owner.id)
    draft = await payload_of(
        api,
        staff_token,
        SAVE,
        client=gid("Client", owner.id),
        input={"lines": LINES, "validUntil": date.today().isoformat()},
    )
    other_token = await holder_token(conn, other.id)

    results: list[dict[str, Any]] = [
        await payload_of(api, other_token, ACCEPT, id=quote_id),
        await payload_of(api, await holder_token(conn, owner.id), ACCEPT, id=draft["quote"]["id"]),
    ]
    seen = await gql(
        api, "query($id: ID!) { node(id: $id) { id } }", {"id": quote_id}, token=other_token
    )

    for refused in results:
        assert [(e["field"], e["code"]) for e in refused["errors"]] == [("id", "NOT_FOUND")]
    assert seen["data"]["node"] is None
    assert await conn.fetchval("SELECT count(*) FROM invoices") == 0


async def test_14_4_a_sub_account_with_quotes_accepts_but_reads_the_invoice_with_invoices(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)
    quote_id = await sent_quote(api, staff_token, client.id)
    token = await add_sub_account(conn, client.id, "sub@example.com", ["QUOTES"])

    body = await gql(api, ACCEPT, {"id": quote_id}, token=token, allow_errors=True)

    assert body["data"]["acceptQuote"]["quote"]["status"] == "ACCEPTED"
    assert body["data"]["acceptQuote"]["quote"]["invoice"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert body["errors"][0]["path"] == ["acceptQuote", "quote", "invoice"]
    node = await gql(api, "query($id: ID!) { node(id: $id) { id } }", {"id": quote_id}, token=token)
    assert node["data"]["node"] == {"id": quote_id}


async def test_14_4_node_shows_a_quote_as_client_quotes_does(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)
    sent = await sent_quote(api, staff_token, client.id)
    draft = await payload_of(
        api,
        staff_token,
        SAVE,
        client=gid("Client", client.id),
        input={"lines": LINES, "validUntil": date.today().isoformat()},
    )
    ids = [sent, draft["quote"]["id"]]
    document = "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Quote { status } } }"
    without = await add_sub_account(conn, client.id, "sub@example.com", ["INVOICES"])

    holder = await gql(api, document, {"ids": ids}, token=await holder_token(conn, client.id))
    staff = await gql(api, document, {"ids": ids}, token=staff_token)
    refused = await gql(api, document, {"ids": ids}, token=without, allow_errors=True)

    assert holder["data"]["nodes"] == [{"id": sent, "status": "SENT"}, None]
    assert [n["status"] for n in staff["data"]["nodes"]] == ["SENT", "DRAFT"]
    assert refused["data"]["nodes"] == [None, None]
    assert {e["extensions"]["code"] for e in refused["errors"]} == {"FORBIDDEN"}


async def test_14_1_accepting_a_quote_with_product_lines_creates_their_order_items(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)
    hosting, tld = await product(conn), await product(conn, ItemKind.DOMAIN)
    lines = [
        LINES[0],
        # The quote's prices and cycles, not the catalogue's (10.00 a month).
        {
            "description": "Hosting",
            "amount": "99.00",
            "productId": gid("Product", hosting),
            "billingCycle": "ANNUALLY",
        },
        {"description": "example.org", "amount": "15.00", "productId": gid("Product", tld)},
    ]
    saved = await payload_of(
        api,
        staff_token,
        SAVE,
        client=gid("Client", client.id),
        input={"lines": lines, "validUntil": date.today().isoformat()},
    )
    await payload_of(api, staff_token, SEND, id=saved["quote"]["id"])

    accepted = await payload_of(
        api, await holder_token(conn, client.id), ACCEPT, id=saved["quote"]["id"]
    )

    invoice = accepted["quote"]["invoice"]
    assert invoice["total"] == "214.00"
    assert [item["amount"] for item in invoice["items"]] == ["100.00", "99.00", "15.00"]
    assert invoice["items"][0]["description"] == "Website design"
    assert invoice["items"][1]["description"].startswith("Hosting (")
    order = await conn.fetchrow("SELECT id, status, invoice_id, currency FROM orders")
    assert order["invoice_id"] == pk(invoice["id"], "Invoice") and order["status"] == "PENDING"
    made = await conn.fetch(
        """SELECT 'SERVICE' AS kind, name, amount, billing_cycle, status, product_id
             FROM services WHERE order_id = $1
           UNION ALL
           SELECT 'DOMAIN', name, amount, billing_cycle, status, product_id
             FROM domains WHERE order_id = $1 ORDER BY kind""",
        order["id"],
    )
    assert [tuple(row) for row in made] == [
        ("DOMAIN", "example.org", Decimal("15.00"), "MONTHLY", "PENDING", tld),
        ("SERVICE", "Hosting", Decimal("99.00"), "ANNUALLY", "PENDING", hosting),
    ]
    billed = await conn.fetch(
        "SELECT item_id FROM invoice_items WHERE invoice_id = $1 AND item_id IS NOT NULL",
        order["invoice_id"],
    )
    assert len(billed) == 2
    await orders.accept_order(conn, order["id"], staff_id=None, client_area_url=CLIENT_AREA_URL)
    assert await conn.fetchval(
        "SELECT array_agg(DISTINCT status) FROM services WHERE order_id = $1", order["id"]
    ) == ["ACTIVE"]


async def test_14_1_saving_a_quote_refuses_unknown_products_addons_and_cycles_without_one(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)
    addon = await product(conn, ItemKind.ADDON, addon_of=await product(conn))
    bad = [
        {"description": "Gone", "amount": "1.00", "productId": gid("Product", 999_999)},
        {"description": "Not one", "amount": "1.00", "productId": gid("Client", client.id)},
        {"description": "Backups", "amount": "1.00", "productId": gid("Product", addon)},
        {"description": "Text", "amount": "1.00", "billingCycle": "ANNUALLY"},
    ]

    refused = await payload_of(
        api,
        staff_token,
        SAVE,
        client=gid("Client", client.id),
        input={"lines": bad, "validUntil": date.today().isoformat()},
    )

    assert refused["quote"] is None
    assert {(e["field"], e["code"]) for e in refused["errors"]} == {
        ("lines.0.productId", "NOT_FOUND"),
        ("lines.1.productId", "NOT_FOUND"),
        ("lines.2.productId", "INVALID"),
        ("lines.3.billingCycle", "INVALID"),
    }
    assert await conn.fetchval("SELECT count(*) FROM quotes") == 0


async def test_14_4_a_quote_line_keeps_its_text_and_price_when_its_product_is_deleted(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)
    hosting = await product(conn)
    line = {**LINES[1], "productId": gid("Product", hosting)}
    await payload_of(
        api,
        staff_token,
        SAVE,
        client=gid("Client", client.id),
        input={"lines": [line], "validUntil": date.today().isoformat()},
    )

    await conn.execute("DELETE FROM products WHERE id = $1", hosting)

    kept = await conn.fetchrow("SELECT description, amount, product_id FROM quote_lines")
    assert tuple(kept) == ("Hosting setup", Decimal("20.50"), None)
