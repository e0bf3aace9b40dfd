"""The SQL a list or detail query costs stays the same as the page and the data grow.

The documents are generated from the schema (introspection): `clients`, `client` and `me`
select every field reachable from them that takes no required argument, every nested list
and connection included, so a field added to `Client` (or below it) is measured here
without a test of its own. Each is run on a small world (one client, one item in every
list) and a grown one (three clients, two items in every list, a bigger page); the number
of statements must not change. A nested list the grown world leaves empty fails the test:
it could hide one query per item, so the world must give it data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from typing import Any

import asyncpg
import pytest

from domain.affiliates import services as affiliates
from domain.auth import sessions
from domain.billing import orders
from domain.billing.models import ItemKind
from domain.cards import services as cards
from domain.cards.crypto import CardKeyring
from domain.clients import services as client_services
from domain.credit import services as credit_services
from domain.quotes import services as quotes
from tests.api.introspection import _types
from tests.api.test_authz_matrix import TTL
from tests.conftest import CARD_KEY, CLIENT_AREA_URL, CountedApi, gid, pay_by_transfer

# Below this many levels a selection stops: deeper than any query a client needs.
MAX_DEPTH = 6
# The page a nested list with paging arguments is asked for: more than the worlds' items,
# and small enough that selecting every list (a ticket's messages' attachments among them)
# stays within MAX_QUERY_COST, as a client asking for everything must.
NESTED_PAGE = 10
LEAF_KINDS = ("SCALAR", "ENUM")
# asyncpg looks up a type the first time a connection of the pool meets it: once per
# connection, whichever connections a request happens to get, so not counted.
ASYNCPG_TYPE_LOOKUP = (
    "WITH RECURSIVE typeinfo_tree",
    "SELECT current_setting('jit')",
    "SELECT set_config('jit'",
)


def _named(type_ref: dict[str, Any]) -> tuple[str, bool]:
    """The named type under a reference, and whether a list wraps it."""
    is_list = False
    while type_ref.get("ofType"):
        is_list = is_list or type_ref["kind"] == "LIST"
        type_ref = type_ref["ofType"]
    return type_ref["name"], is_list


def selection(type_name: str, path: tuple[str, ...] = ()) -> str:
    """Every field of `type_name` without a required argument, objects recursively (a type
    already on the path is not entered again)."""
    described = _types()[type_name]
    if described["kind"] in ("UNION", "INTERFACE"):
        fragments = [
            f"... on {kind['name']} {{ {selection(kind['name'], path)} }}"
            for kind in described["possibleTypes"]
        ]
        return " ".join(["__typename", *fragments])
    parts = []
    for field in described["fields"]:
        if any(
            arg["type"]["kind"] == "NON_NULL" and arg["defaultValue"] is None
            for arg in field["args"]
        ):
            continue
        named, _ = _named(field["type"])
        paged = any(arg["name"] == "first" for arg in field["args"])
        arguments = f"(first: {NESTED_PAGE})" if paged else ""
        if _types()[named]["kind"] in LEAF_KINDS:
            parts.append(field["name"])
        elif named not in path and len(path) < MAX_DEPTH:
            inner = selection(named, (*path, type_name))
            parts.append(f"{field['name']}{arguments} {{ {inner} }}")
    return " ".join(parts)


def root_document(root_field: str) -> str:
    [field] = [f for f in _types()["Query"]["fields"] if f["name"] == root_field]
    named, _ = _named(field["type"])
    arguments = {"clients": "(first: $first)", "client": "(id: $id)", "me": ""}[root_field]
    variables = {"clients": "($first: Int)", "client": "($id: ID!)", "me": ""}[root_field]
    return f"query Growth{variables} {{ {root_field}{arguments} {{ {selection(named)} }} }}"


def list_lengths(value: Any, path: str = "") -> Iterator[tuple[str, int]]:
    """(path, length) of every list of objects in a response, at every level."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from list_lengths(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        yield path, len(value)
        for item in value:
            yield from list_lengths(item, path)


async def add_client_with_everything(conn: asyncpg.Connection, number: int, each: int) -> int:
    """A client with `each` items in every list of its own: contacts, emails, credit,
    services (with addons of their own), addons, domains, invoices with items, transactions,
    accepted quotes with `each` lines; a card and a billing contact."""
    client = await client_services.add_client(
        conn,
        {"first_name": "Growth", "last_name": f"Client{number}", "email": f"g{number}@ex.com"},
        password=None,
        staff_id=None,
        send_welcome_email=False,
        client_area_url="http://127.0.0.1:8000",
    )
    contacts = [
        await conn.fetchval(
            """INSERT INTO contacts (client_id, first_name, last_name, email)
               VALUES ($1, 'Contact', $2, $3) RETURNING id""",
            client.id,
            str(n),
            f"c{number}-{n}@ex.com",
        )
        for n in range(each)
    ]
    await conn.execute(
        "UPDATE clients SET billing_contact_id = $2 WHERE id = $1", client.id, contacts[0]
    )
    for n in range(each):
        await conn.execute(
            """INSERT INTO emails (client_id, template, category, to_address, subject, body,
                                   attempts, sent_at)
               VALUES ($1, 'client_signup', 'ACCOUNT', $2, 'Hello', 'Hi', 1, now())""",
            client.id,
            f"g{number}@ex.com",
        )
        await credit_services.add_credit(
            conn, client.id, amount="1.00", description="Goodwill", staff_id=None, login_id=None
        )
        order = await orders.place_order(
            conn,
            client.id,
            items=[
                {"kind": kind, "name": f"{kind.value.lower()}{n}.example.com", "amount": "10.00"}
                for kind in (ItemKind.SERVICE, ItemKind.ADDON, ItemKind.DOMAIN)
                for _ in range(each)
            ],
            payment_method="banktransfer",
            staff_id=None,
        )
        # The order's addons are of its first service: a service's addons are a list too.
        await conn.execute(
            """UPDATE addons a SET service_id = (SELECT min(id) FROM services s
                                                 WHERE s.order_id = a.order_id)
                WHERE a.order_id = $1""",
            order.id,
        )
        assert order.invoice_id is not None
        await pay_by_transfer(conn, order.invoice_id, "1.00")
    for _ in range(each):
        quote = await quotes.save_quote(
            conn,
            client.id,
            quote_id=None,
            lines=[{"description": f"Line {m}", "amount": "5.00"} for m in range(each)],
            valid_until=date.today(),
            staff_id=None,
        )
        # Sent and accepted: its invoice is read too.
        await quotes.send_quote(
            conn, quote.id, staff_id=None, client_area_url=CLIENT_AREA_URL, page_id="Q"
        )
        await quotes.accept_quote(conn, quote.id, client_id=client.id)
    await cards.save_card(
        conn,
        CardKeyring.parse(CARD_KEY),
        client.id,
        number="4111111111111111",
        expiry="12/30",
        staff_id=None,
    )
    return client.id


async def add_affiliate(conn: asyncpg.Connection, client_id: int, each: int) -> None:
    """The client's affiliate account with `each` referrals (clients added after the page's)
    and `each` commissions in each of two currencies."""
    affiliate = await affiliates.activate_affiliate(conn, client_id)
    for n in range(each):
        referred = await client_services.add_client(
            conn,
            {
                "first_name": "Ref",
                "last_name": f"{client_id}-{n}",
                "email": f"r{client_id}-{n}@ex.com",
            },
            password=None,
            staff_id=None,
            send_welcome_email=False,
            client_area_url=CLIENT_AREA_URL,
        )
        await affiliates.record_referral(conn, referred.id, affiliate.referral_code)
        await conn.execute(
            """INSERT INTO affiliate_commissions (affiliate_id, invoice_number, amount, currency)
               SELECT $1, $2, 1.00, currency FROM unnest('{USD,EUR}'::text[]) AS c (currency)""",
            affiliate.id,
            n,
        )


async def statements_in_a_world(
    conn: asyncpg.Connection, counted_api: CountedApi, *, clients: int, each: int
) -> tuple[dict[str, int], dict[str, int]]:
    """Statements per root field, and the longest list seen at each path, in a world of
    `clients` clients with `each` items in every list (the page holds them all)."""
    ids = [await add_client_with_everything(conn, clients * 10 + n, each) for n in range(clients)]
    for client_id in ids:
        await add_affiliate(conn, client_id, each)
    staff_login = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ($1) RETURNING id", f"growth{clients}@staff.ex.com"
    )
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) "
        "VALUES ($1, 'Sam', 'Staff', 'ADMIN')",
        staff_login,
    )
    staff = await sessions.start_session(conn, staff_login, ttl=TTL)
    holder = await conn.fetchval("SELECT owner_login_id FROM clients WHERE id = $1", ids[-1])
    client_session = await sessions.start_session(conn, holder, ttl=TTL)
    runs = {
        "clients": ({"first": clients}, staff),
        "client": ({"id": gid("Client", ids[-1])}, staff),
        "me": ({}, client_session),
    }
    counts, longest = {}, defaultdict(int)
    for root, (variables, token) in runs.items():
        # Once uncounted: what the process keeps across requests (the settings and
        # currencies) is read by whichever request comes first.
        await counted_api.count(root_document(root), variables, token)
        await counted_api.count(root_document(root), variables, token)
        counts[root] = sum(
            not " ".join(s.split()).startswith(ASYNCPG_TYPE_LOOKUP) for s in counted_api.statements
        )
        body = counted_api.last_body
        assert "errors" not in body, body.get("errors")
        for path, length in list_lengths(body["data"]):
            longest[path] = max(longest[path], length)
    return counts, dict(longest)


async def test_statements_per_list_and_detail_query_do_not_grow_with_the_page_or_the_data(
    conn: asyncpg.Connection, counted_api: CountedApi
) -> None:
    small, _ = await statements_in_a_world(conn, counted_api, clients=1, each=1)
    await conn.execute("DELETE FROM sessions")
    grown, longest = await statements_in_a_world(conn, counted_api, clients=3, each=2)
    # Every nested list had more than one item somewhere, so one query per item would show.
    assert {path: n for path, n in longest.items() if n < 2} == {}
    assert any(path.startswith("clients.edges.node.") for path in longest)
    assert grown == small


@pytest.mark.parametrize("root", ["clients", "client", "me"])
def test_the_generated_documents_reach_every_list_field_of_client(root: str) -> None:
    document = root_document(root)
    for field in _types()["Client"]["fields"]:
        named, is_list = _named(field["type"])
        if is_list and _types()[named]["kind"] == "OBJECT":
            assert f" {field['name']} {{" in document or f" {field['name']}(" in document
