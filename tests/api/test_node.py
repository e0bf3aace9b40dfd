"""Relay object identification: `node(id)` and `nodes(ids)` return any object by its global id,
to exactly the viewers its own root field would show it to.

Sessions are opened on the domain directly (the login itself is tested in test_auth.py).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from app.graphql import build_schema
from app.settings import Settings
from domain.auth import sessions
from domain.auth.permissions import ContactPermission, StaffRole
from domain.clients import services as client_services
from domain.contacts import services as contact_services
from resolvers.node import NODE_TYPES
from tests.conftest import CountedApi, gid, gql

TTL = timedelta(hours=1)
OK, NULL, FORBIDDEN, UNAUTHENTICATED = "OK", "NULL", "FORBIDDEN", "UNAUTHENTICATED"

# A client's status, which its sub-accounts read without a permission (its email needs PROFILE).
SHOWN = """__typename id
  ... on Client { status } ... on Contact { email } ... on Email { subject }"""
NODE = f"query($id: ID!) {{ node(id: $id) {{ {SHOWN} }} }}"
NODES = f"query($ids: [ID!]!) {{ nodes(ids: $ids) {{ {SHOWN} }} }}"
OBJECTS_OF_CLIENT = """query($id: ID!) {
  client(id: $id) { __typename id status
    contacts { __typename id email } emails { __typename id subject } } }"""


@dataclass(frozen=True)
class World:
    """Two clients, each with a contact and a sent email; the viewers' sessions by name."""

    ids: dict[str, str]  # "my_client", "their_contact", … → API id
    shown: dict[str, dict[str, Any]]  # the same names → what `node` must return for them
    tokens: dict[str, str | None]


async def add_client_with_contact_and_email(
    conn: asyncpg.Connection, name: str
) -> tuple[int, int, int]:
    """A client named `name`, a contact and a sent email of it: their row ids."""
    client = await client_services.add_client(
        conn,
        {"first_name": "Joe", "last_name": name.title(), "email": f"{name}@example.com"},
        password=None,
        staff_id=None,
        send_welcome_email=False,
        client_area_url="http://127.0.0.1:8000",
    )
    contact = await contact_services.add_contact(
        conn,
        client.id,
        {"first_name": "Jane", "last_name": "Doe", "email": f"{name}-contact@example.com"},
        staff_id=None,
        may_grant_access=True,
    )
    email_id = await conn.fetchval(
        """INSERT INTO emails (client_id, template, category, to_address, subject, sent_at)
           VALUES ($1, 'invoice_created', 'INVOICE', $2, $3, now()) RETURNING id""",
        client.id,
        f"{name}@example.com",
        f"Invoice for {name}",
    )
    return client.id, contact.id, email_id


async def session_of(conn: asyncpg.Connection, login_id: int) -> str:
    return await sessions.start_session(conn, login_id, ttl=TTL)


async def staff_token(conn: asyncpg.Connection, role: StaffRole) -> str:
    login_id = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ($1) RETURNING id", f"{role.lower()}@staff.example.com"
    )
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) VALUES ($1, 'Sam', 'Staff', $2)",
        login_id,
        role.value,
    )
    return await session_of(conn, login_id)


async def sub_account_token(
    conn: asyncpg.Connection, client_id: int, email: str, permissions: set[ContactPermission]
) -> str:
    login_id = await conn.fetchval("INSERT INTO logins (email) VALUES ($1) RETURNING id", email)
    await conn.execute(
        """INSERT INTO contacts (client_id, login_id, first_name, last_name, email, permissions)
           VALUES ($1, $2, 'Sub', 'Account', $3, $4)""",
        client_id,
        login_id,
        email,
        sorted(p.value for p in permissions),
    )
    return await session_of(conn, login_id)


@pytest.fixture
async def world(conn: asyncpg.Connection) -> World:
    ids: dict[str, str] = {}
    shown: dict[str, dict[str, Any]] = {}
    for whose in ("my", "their"):
        client, contact, email = await add_client_with_contact_and_email(conn, whose)
        for name, type_name, pk, fields in [
            ("client", "Client", client, {"status": "ACTIVE"}),
            ("contact", "Contact", contact, {"email": f"{whose}-contact@example.com"}),
            ("email", "Email", email, {"subject": f"Invoice for {whose}"}),
        ]:
            ids[f"{whose}_{name}"] = gid(type_name, pk)
            shown[f"{whose}_{name}"] = {"__typename": type_name, "id": gid(type_name, pk), **fields}
    my_client = await conn.fetchrow(
        "SELECT id, owner_login_id FROM clients WHERE email = 'my@example.com'"
    )
    tokens: dict[str, str | None] = {
        "anonymous": None,
        "admin": await staff_token(conn, StaffRole.ADMIN),
        "read_only_staff": await staff_token(conn, StaffRole.READ_ONLY),
        "account_holder": await session_of(conn, my_client["owner_login_id"]),
        "sub_account": await sub_account_token(conn, my_client["id"], "sub@example.com", set()),
        "sub_account_with_contacts_and_emails": await sub_account_token(
            conn,
            my_client["id"],
            "trusted@example.com",
            {ContactPermission.CONTACTS, ContactPermission.EMAILS},
        ),
    }
    return World(ids, shown, tokens)


OBJECTS = ["my_client", "my_contact", "my_email", "their_client", "their_contact", "their_email"]

# What each viewer gets for each object: the same as through the object's own root field
# (`client`/`me`, `contact`/`Client.contacts`, `Client.emails`).
EXPECTED = {
    "anonymous": dict.fromkeys(OBJECTS, UNAUTHENTICATED),
    "admin": dict.fromkeys(OBJECTS, OK),
    "read_only_staff": {o: FORBIDDEN if o.endswith("email") else OK for o in OBJECTS},
    "account_holder": {o: OK if o.startswith("my") else NULL for o in OBJECTS},
    "sub_account": {
        "my_client": OK,
        "their_client": NULL,
        **{o: FORBIDDEN for o in OBJECTS if not o.endswith("client")},
    },
    "sub_account_with_contacts_and_emails": {
        o: OK if o.startswith("my") else NULL for o in OBJECTS
    },
}


def outcome(value: Any, errors: list[dict[str, Any]]) -> Any:
    """OK (with the object), NULL, or the code of the one error."""
    if errors:
        [error] = errors
        assert value is None, (value, errors)
        return error["extensions"]["code"]
    return NULL if value is None else (OK, value)


def expected_outcome(world: World, viewer: str, name: str) -> Any:
    wanted = EXPECTED[viewer][name]
    return (OK, world.shown[name]) if wanted == OK else wanted


@pytest.mark.parametrize("viewer", EXPECTED)
async def test_node_shows_each_object_to_whom_its_own_root_field_shows_it(
    api: httpx.AsyncClient, world: World, viewer: str
) -> None:
    token = world.tokens[viewer]
    seen = {}
    for name in OBJECTS:
        body = await gql(api, NODE, {"id": world.ids[name]}, token=token, allow_errors=True)
        errors = body.get("errors", [])
        assert all(error["path"] == ["node"] for error in errors), errors
        seen[name] = outcome((body.get("data") or {}).get("node"), errors)

    assert seen == {name: expected_outcome(world, viewer, name) for name in OBJECTS}


@pytest.mark.parametrize("viewer", [v for v in EXPECTED if v != "anonymous"])
async def test_nodes_answers_each_id_in_order_as_node_would(
    api: httpx.AsyncClient, world: World, viewer: str
) -> None:
    asked = [*OBJECTS, *reversed(OBJECTS)]  # each twice, in both orders

    body = await gql(
        api,
        NODES,
        {"ids": [world.ids[n] for n in asked]},
        token=world.tokens[viewer],
        allow_errors=True,
    )

    errors_at: dict[int, list[dict[str, Any]]] = {}
    for error in body.get("errors", []):
        assert error["path"][0] == "nodes", error
        errors_at.setdefault(error["path"][1], []).append(error)
    seen = [
        outcome(value, errors_at.get(index, []))
        for index, value in enumerate(body["data"]["nodes"])
    ]
    assert seen == [expected_outcome(world, viewer, name) for name in asked]


async def test_nodes_needs_a_logged_in_viewer(api: httpx.AsyncClient, world: World) -> None:
    body = await gql(api, NODES, {"ids": [world.ids["my_client"]]}, allow_errors=True)

    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == [UNAUTHENTICATED]


async def test_ids_from_responses_fetch_the_same_objects_again(
    api: httpx.AsyncClient, world: World
) -> None:
    token = world.tokens["admin"]
    body = await gql(api, OBJECTS_OF_CLIENT, {"id": world.ids["my_client"]}, token=token)
    client = body["data"]["client"]
    contacts, emails = client.pop("contacts"), client.pop("emails")

    assert len(contacts) == 3 and len(emails) == 1  # its contact and two sub-accounts
    for listed in (client, *contacts, *emails):
        again = await gql(api, NODE, {"id": listed["id"]}, token=token)
        assert again["data"]["node"] == listed


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


NOT_CLIENT_IDS = [
    pytest.param(gid("Client", 999999), id="absent"),
    pytest.param(gid("Invoice", 1), id="a-type-without-node"),
    pytest.param("1", id="a-bare-row-id"),
    pytest.param("%%%", id="garbage"),
    pytest.param(b64("Client:١"), id="arabic-indic-digit"),
    pytest.param(b64("Client:01"), id="leading-zero"),
    pytest.param(b64(f"Client:{2**64}"), id="beyond-bigint"),
    pytest.param("Q2xpZW50OjE=é", id="non-ascii"),
    pytest.param("x" * 5000, id="very-long"),
]


@pytest.mark.parametrize("value", NOT_CLIENT_IDS)
async def test_an_id_that_names_no_object_is_null_or_not_found_never_an_error(
    api: httpx.AsyncClient, world: World, value: str
) -> None:
    token = world.tokens["admin"]
    update = """mutation($id: ID!) { updateClient(id: $id, input: {notes: "x"}) {
                  client { id } errors { field code } } }"""

    node = await gql(api, NODE, {"id": value}, token=token)
    client = await gql(
        api, "query($id: ID!) { client(id: $id) { id } }", {"id": value}, token=token
    )
    updated = await gql(api, update, {"id": value}, token=token)

    assert node["data"] == {"node": None}
    assert client["data"] == {"client": None}
    assert updated["data"]["updateClient"] == {
        "client": None,
        "errors": [{"field": "id", "code": "NOT_FOUND"}],
    }


async def test_an_id_of_another_type_is_not_that_type(api: httpx.AsyncClient, world: World) -> None:
    token = world.tokens["admin"]
    contact_id = world.ids["my_contact"]

    body = await gql(
        api, "query($id: ID!) { client(id: $id) { id } }", {"id": contact_id}, token=token
    )

    assert body["data"] == {"client": None}


async def test_nodes_takes_at_most_200_ids(api: httpx.AsyncClient, world: World) -> None:
    ids = [world.ids["my_client"]] * 201

    body = await gql(api, NODES, {"ids": ids}, token=world.tokens["admin"], allow_errors=True)

    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


async def test_nodes_fetches_each_type_in_one_statement_however_many_ids(
    counted_api: CountedApi, conn: asyncpg.Connection, world: World
) -> None:
    for n in range(10):
        await add_client_with_contact_and_email(conn, f"more{n}")
    rows = await conn.fetch(
        """SELECT c.id AS client, k.id AS contact, e.id AS email FROM clients c
           JOIN contacts k ON k.client_id = c.id JOIN emails e ON e.client_id = c.id"""
    )
    every_id = [
        gid(type_name, row[column])
        for row in rows
        for type_name, column in (("Client", "client"), ("Contact", "contact"), ("Email", "email"))
    ]
    token = world.tokens["admin"]
    assert token is not None

    await counted_api.count(NODES, {"ids": every_id[:3]}, token)  # the pool's first use
    few = await counted_api.count(NODES, {"ids": every_id[:3]}, token)
    many = await counted_api.count(NODES, {"ids": every_id}, token)

    assert len(set(every_id)) >= 36  # 12 clients, their contacts and emails
    assert None not in counted_api.last_body["data"]["nodes"]
    assert many == few


def test_every_type_implementing_node_is_reachable_through_node() -> None:
    schema = build_schema(Settings(_env_file=None))._schema
    implementations = schema.get_implementations(schema.get_type("Node"))  # type: ignore[arg-type]

    assert {t.name for t in implementations.objects} == set(NODE_TYPES)
