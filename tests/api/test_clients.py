"""SPEC 1.1–1.5, 1.8 and 10.2 through GraphQL: staff manage clients over the real ASGI app."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from domain.auth import sessions
from domain.auth.permissions import StaffRole
from domain.clients.queries import ClientOrderField
from domain.paging import Position
from resolvers.pagination import decode_cursor, encode_cursor
from tests.conftest import LOGIN, CountedApi, Services, gid, gql, login, pk
from tests.domain.test_clients import (
    PEOPLE,
    add_people,
    emails_in_order,
    emails_where,
    table_state,
)

ERRORS = "errors { field code message }"
CLIENT = """id firstName lastName companyName email phoneNumber language notes status displayName
    address { address1 address2 city state postcode country } currency { code prefix suffix }
    overdueNoticesDisabled lateFeesExempt taxExempt separateInvoices ccProcessingDisabled
    defaultPaymentMethod"""

ADD_CLIENT = f"""
mutation AddClient($input: AddClientInput!, $welcome: Boolean! = true) {{
  addClient(input: $input, sendWelcomeEmail: $welcome) {{ client {{ {CLIENT} }} {ERRORS} }}
}}"""
UPDATE_CLIENT = f"""
mutation UpdateClient($id: ID!, $input: UpdateClientInput!) {{
  updateClient(id: $id, input: $input) {{ client {{ {CLIENT} }} warnings {ERRORS} }}
}}"""
SET_CLIENT_STATUS = f"""
mutation SetClientStatus($id: ID!, $status: ClientStatus!) {{
  setClientStatus(id: $id, status: $status) {{ client {{ id status }} {ERRORS} }}
}}"""
CLIENT_BY_ID = f"query Client($id: ID!) {{ client(id: $id) {{ {CLIENT} }} }}"
CLIENTS = """
query Clients($first: Int, $after: String, $last: Int, $before: String, $search: String,
              $status: [ClientStatus!], $orderBy: ClientOrder) {
  clients(first: $first, after: $after, last: $last, before: $before, search: $search,
          status: $status, orderBy: $orderBy) {
    edges { cursor node { email displayName } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
    totalCountIsEstimate
  }
}"""
GENERAL_SETTINGS = "query { generalSettings { clientDisplayFormat passwordResetMode } }"
UPDATE_GENERAL_SETTINGS = f"""
mutation UpdateGeneralSettings($input: GeneralSettingsInput!) {{
  updateGeneralSettings(input: $input) {{
    settings {{ clientDisplayFormat passwordResetMode }} {ERRORS}
  }}
}}"""

JOE = {"firstName": "Joe", "lastName": "Bloggs", "email": "joe@example.com"}
FLAGS = (
    "overdueNoticesDisabled",
    "lateFeesExempt",
    "taxExempt",
    "separateInvoices",
    "ccProcessingDisabled",
)


async def add_client(
    api: httpx.AsyncClient, token: str, *, welcome: bool | None = False, **fields: Any
) -> dict[str, Any]:
    """The addClient payload for Joe Bloggs changed by `fields`; welcome=None omits the flag."""
    variables: dict[str, Any] = {"input": {**JOE, **fields}}
    if welcome is not None:
        variables["welcome"] = welcome
    body = await gql(api, ADD_CLIENT, variables, token=token)
    payload: dict[str, Any] = body["data"]["addClient"]
    return payload


async def added_client(api: httpx.AsyncClient, token: str, **fields: Any) -> dict[str, Any]:
    payload = await add_client(api, token, **fields)
    assert payload["errors"] == []
    client: dict[str, Any] = payload["client"]
    return client


async def update_client(
    api: httpx.AsyncClient, token: str, client_id: str, **fields: Any
) -> dict[str, Any]:
    body = await gql(api, UPDATE_CLIENT, {"id": client_id, "input": fields}, token=token)
    payload: dict[str, Any] = body["data"]["updateClient"]
    return payload


async def fetch_client(api: httpx.AsyncClient, token: str, client_id: str) -> dict[str, Any]:
    body = await gql(api, CLIENT_BY_ID, {"id": client_id}, token=token)
    client: dict[str, Any] = body["data"]["client"]
    return client


async def list_clients(api: httpx.AsyncClient, token: str, **arguments: Any) -> dict[str, Any]:
    body = await gql(api, CLIENTS, arguments, token=token)
    connection: dict[str, Any] = body["data"]["clients"]
    return connection


@pytest.fixture
async def admin_token(conn: asyncpg.Connection) -> str:
    """An admin's session, opened directly: logging in (tested with auth) costs two argon2
    hashes, which would dominate these tests' run time."""
    login_id = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ('admin@staff.example.com') RETURNING id"
    )
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) VALUES ($1, 'Sam', 'Staff', $2)",
        login_id,
        StaffRole.ADMIN.value,
    )
    return await sessions.start_session(conn, login_id, ttl=timedelta(hours=1))


def refusals(payload: dict[str, Any]) -> set[tuple[str | None, str]]:
    """The (field, code) of each UserError; each must also say what is wrong."""
    assert all(error["message"] for error in payload["errors"])
    return {(error["field"], error["code"]) for error in payload["errors"]}


# --- 1.1 adding a client ---------------------------------------------------------------------


async def test_1_1_staff_add_a_client_with_every_profile_field(
    api: httpx.AsyncClient, admin_token: str
) -> None:
    client = await added_client(
        api,
        admin_token,
        companyName="Demo Company",
        phoneNumber="+44 20 7946 0000",
        address1="1 High Street",
        address2="Flat 2",
        city="London",
        state="Greater London",
        postcode="SW1A 1AA",
        country="GB",
        language="en",
        currency="GBP",
        notes="Prefers email.",
        password="client-password-1",
    )

    assert client == {
        "id": client["id"],
        **JOE,
        "companyName": "Demo Company",
        "phoneNumber": "+44 20 7946 0000",
        "language": "en",
        "notes": "Prefers email.",
        "status": "ACTIVE",
        "displayName": "Joe Bloggs",
        "address": {
            "address1": "1 High Street",
            "address2": "Flat 2",
            "city": "London",
            "state": "Greater London",
            "postcode": "SW1A 1AA",
            "country": "GB",
        },
        "currency": {"code": "GBP", "prefix": "£", "suffix": " GBP"},
        **dict.fromkeys(FLAGS, False),
        "defaultPaymentMethod": None,
    }
    assert await fetch_client(api, admin_token, client["id"]) == client
    # The password is the client's: the owner can log in to the client area with it.
    body = await gql(api, LOGIN, {"email": "joe@example.com", "password": "client-password-1"})
    assert body["data"]["login"]["viewer"] == {
        "kind": "CLIENT",
        "email": "joe@example.com",
        "clientId": client["id"],
        "staffRole": None,
    }


async def test_1_1_currency_defaults_to_the_installation_default(
    api: httpx.AsyncClient, admin_token: str
) -> None:
    client = await added_client(api, admin_token)

    assert client["currency"] == {"code": "USD", "prefix": "$", "suffix": " USD"}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"firstName": "", "lastName": "  ", "email": ""},
            {("firstName", "REQUIRED"), ("lastName", "REQUIRED"), ("email", "REQUIRED")},
            id="required-fields-empty",
        ),
        pytest.param({"email": "joe@"}, {("email", "INVALID")}, id="bad-email"),
        pytest.param({"country": "XX"}, {("country", "INVALID")}, id="unknown-country"),
        pytest.param({"currency": "XYZ"}, {("currency", "INVALID")}, id="unknown-currency"),
        pytest.param({"phoneNumber": "call me"}, {("phoneNumber", "INVALID")}, id="bad-phone"),
        pytest.param({"password": "short"}, {("password", "INVALID")}, id="short-password"),
        pytest.param(
            {"email": "SOMEONE@example.com"}, {("email", "CONFLICT")}, id="email-in-another-case"
        ),
        pytest.param(
            {"firstName": " ", "email": "not an email", "country": "UK", "currency": "BTC"},
            {("firstName", "REQUIRED"), ("email", "INVALID"), ("country", "INVALID")}
            | {("currency", "INVALID")},
            id="several-at-once",
        ),
    ],
)
async def test_1_1_invalid_new_client_gets_per_field_errors_and_nothing_is_stored(
    api: httpx.AsyncClient,
    admin_token: str,
    conn: asyncpg.Connection,
    fields: dict[str, Any],
    expected: set[tuple[str, str]],
) -> None:
    await added_client(api, admin_token, email="someone@example.com")
    before = await table_state(conn)

    payload = await add_client(api, admin_token, welcome=True, **fields)

    assert payload["client"] is None
    assert refusals(payload) == expected
    assert await table_state(conn) == before


async def test_1_1_required_fields_cannot_be_left_out(
    api: httpx.AsyncClient, admin_token: str, conn: asyncpg.Connection
) -> None:
    body = await gql(
        api, ADD_CLIENT, {"input": {"firstName": "Joe"}}, token=admin_token, allow_errors=True
    )

    assert body["data"] is None
    messages = " ".join(error["message"] for error in body["errors"])
    assert "lastName" in messages and "email" in messages
    assert await conn.fetchval("SELECT count(*) FROM clients") == 0


@pytest.mark.parametrize(
    ("welcome", "sent"),
    [pytest.param(None, 1, id="by-default"), pytest.param(False, 0, id="sendWelcomeEmail-false")],
)
async def test_1_1_welcome_email_is_queued_unless_send_welcome_email_is_false(
    api: httpx.AsyncClient,
    admin_token: str,
    conn: asyncpg.Connection,
    run_worker: Any,
    services: Services,
    welcome: bool | None,
    sent: int,
) -> None:
    client = await added_client(api, admin_token, welcome=welcome)

    queued = await conn.fetch("SELECT template, client_id, to_address FROM emails")
    assert [dict(row) for row in queued] == [
        {
            "template": "client_signup",
            "client_id": pk(client["id"], "Client"),
            "to_address": JOE["email"],
        }
    ] * sent

    await run_worker()
    assert [(m["To"], m["Subject"]) for m in services.mail.messages] == [
        ("Joe Bloggs <joe@example.com>", "Welcome, Joe: your account is ready")
    ] * sent


# --- 1.2 updating a client -------------------------------------------------------------------


async def test_1_2_staff_update_profile_fields_and_the_others_keep_their_value(
    api: httpx.AsyncClient, admin_token: str
) -> None:
    client = await added_client(api, admin_token, city="Leeds", notes="Old note", country="GB")
    changes = {
        "firstName": "Joseph",
        "lastName": "Blogs",
        "email": "joseph@example.com",
        "companyName": "Demo Company",
        "phoneNumber": "+1 555 0100",
        "address1": "2 Main Street",
        "postcode": "10001",
        "country": "US",
        "language": "fr",
        "currency": "EUR",
    }

    payload = await update_client(api, admin_token, client["id"], **changes)

    expected = {
        **client,
        **{k: v for k, v in changes.items() if k not in ("address1", "postcode", "country")},
        "address": {**client["address"], "address1": "2 Main Street", "postcode": "10001"}
        | {"country": "US"},
        "currency": {"code": "EUR", "prefix": "€", "suffix": " EUR"},
        "displayName": "Joseph Blogs",
    }
    assert expected["notes"] == "Old note" and expected["address"]["city"] == "Leeds"
    assert payload == {"client": expected, "warnings": [], "errors": []}
    assert await fetch_client(api, admin_token, client["id"]) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"firstName": ""}, {("firstName", "REQUIRED")}, id="empty-first-name"),
        pytest.param({"lastName": None}, {("lastName", "REQUIRED")}, id="null-last-name"),
        pytest.param({"email": "joe.example.com"}, {("email", "INVALID")}, id="bad-email"),
        pytest.param({"email": None}, {("email", "REQUIRED")}, id="null-email"),
        pytest.param(
            {"email": "ANN@example.com"}, {("email", "CONFLICT")}, id="email-of-another-client"
        ),
        pytest.param({"country": "ZZ"}, {("country", "INVALID")}, id="unknown-country"),
        pytest.param({"currency": "ABC"}, {("currency", "INVALID")}, id="unknown-currency"),
        pytest.param(
            {"defaultPaymentMethod": "paypal"},
            {("defaultPaymentMethod", "INVALID")},
            id="unknown-payment-method",
        ),
        pytest.param({"taxExempt": None}, {("taxExempt", "INVALID")}, id="null-flag"),
        pytest.param(
            {"firstName": "", "email": "ann@EXAMPLE.com", "country": "XX", "city": "Paris"},
            {("firstName", "REQUIRED"), ("email", "CONFLICT"), ("country", "INVALID")},
            id="several-at-once",
        ),
    ],
)
async def test_1_2_invalid_update_gets_per_field_errors_and_nothing_changes(
    api: httpx.AsyncClient,
    admin_token: str,
    conn: asyncpg.Connection,
    fields: dict[str, Any],
    expected: set[tuple[str, str]],
) -> None:
    client = await added_client(api, admin_token, city="Leeds")
    await added_client(api, admin_token, firstName="Ann", email="ann@example.com")
    before = await table_state(conn)

    payload = await update_client(api, admin_token, client["id"], **fields)

    assert payload["client"] is None
    assert refusals(payload) == expected
    assert await table_state(conn) == before
    assert await fetch_client(api, admin_token, client["id"]) == client


@pytest.mark.parametrize(
    "client_id",
    [
        pytest.param(gid("Client", 999999), id="absent"),
        pytest.param("not-an-id", id="malformed"),
        pytest.param(gid("Contact", 1), id="another-types-id"),
    ],
)
async def test_1_2_update_of_an_unknown_client_is_not_found(
    api: httpx.AsyncClient, admin_token: str, conn: asyncpg.Connection, client_id: str
) -> None:
    await added_client(api, admin_token)
    before = await table_state(conn)

    payload = await update_client(api, admin_token, client_id, firstName="Ann")

    assert payload["client"] is None
    assert refusals(payload) == {("id", "NOT_FOUND")}
    assert await table_state(conn) == before


async def test_1_2_new_email_is_also_the_owners_login(
    api: httpx.AsyncClient, admin_token: str
) -> None:
    client = await added_client(api, admin_token, password="client-password-1")

    payload = await update_client(api, admin_token, client["id"], email="joe@bloggs.example")

    assert payload["client"]["email"] == "joe@bloggs.example"
    assert await login(api, "joe@bloggs.example", "client-password-1")
    old = await gql(api, LOGIN, {"email": "joe@example.com", "password": "client-password-1"})
    assert [e["code"] for e in old["data"]["login"]["errors"]] == ["INVALID_CREDENTIALS"]


# --- 1.3 status ------------------------------------------------------------------------------


async def set_status(
    api: httpx.AsyncClient, token: str, client_id: str, status: str
) -> dict[str, Any]:
    body = await gql(api, SET_CLIENT_STATUS, {"id": client_id, "status": status}, token=token)
    payload: dict[str, Any] = body["data"]["setClientStatus"]
    return payload


@pytest.mark.parametrize(
    ("start", "target"),
    [("ACTIVE", "INACTIVE"), ("ACTIVE", "CLOSED"), ("CLOSED", "ACTIVE"), ("INACTIVE", "ACTIVE")],
)
async def test_1_3_staff_set_the_status_explicitly_and_the_change_is_audited(
    api: httpx.AsyncClient, admin_token: str, conn: asyncpg.Connection, start: str, target: str
) -> None:
    client = await added_client(api, admin_token)
    await set_status(api, admin_token, client["id"], start)

    payload = await set_status(api, admin_token, client["id"], target)

    assert payload == {"client": {"id": client["id"], "status": target}, "errors": []}
    assert (await fetch_client(api, admin_token, client["id"]))["status"] == target
    last_entry = await conn.fetchrow(
        "SELECT staff_id, action, changes FROM audit_log WHERE client_id = $1 ORDER BY id DESC",
        pk(client["id"], "Client"),
    )
    assert dict(last_entry) == {
        "staff_id": await conn.fetchval("SELECT id FROM staff"),
        "action": "client.status_changed",
        "changes": {"status": {"from": start, "to": target}},
    }


async def test_1_3_status_of_an_unknown_client_is_not_found(
    api: httpx.AsyncClient, admin_token: str
) -> None:
    payload = await set_status(api, admin_token, gid("Client", 424242), "CLOSED")

    assert payload["client"] is None
    assert refusals(payload) == {("id", "NOT_FOUND")}


# --- 1.4 display name ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("display_format", "with_company", "without_company"),
    [
        ("NAME_ONLY", "Joe Bloggs", "Ann Young"),
        ("COMPANY_IF_SET", "Demo Company", "Ann Young"),
        ("NAME_AND_COMPANY", "Joe Bloggs (Demo Company)", "Ann Young"),
    ],
)
async def test_1_4_display_name_follows_the_client_display_format_setting(
    api: httpx.AsyncClient,
    admin_token: str,
    display_format: str,
    with_company: str,
    without_company: str,
) -> None:
    joe = await added_client(api, admin_token, companyName="Demo Company")
    await added_client(api, admin_token, firstName="Ann", lastName="Young", email="ann@example.com")

    setting = {"input": {"clientDisplayFormat": display_format}}
    await gql(api, UPDATE_GENERAL_SETTINGS, setting, token=admin_token)

    listed = await list_clients(api, admin_token)
    assert [edge["node"]["displayName"] for edge in listed["edges"]] == [
        with_company,
        without_company,
    ]
    assert (await fetch_client(api, admin_token, joe["id"]))["displayName"] == with_company


# --- 1.5 per-client flags --------------------------------------------------------------------


@pytest.mark.parametrize("flag", FLAGS)
async def test_1_5_each_flag_is_stored_and_returned_through_update_client(
    api: httpx.AsyncClient, admin_token: str, flag: str
) -> None:
    client = await added_client(api, admin_token)

    payload = await update_client(api, admin_token, client["id"], **{flag: True})

    only_this = {f: f == flag for f in FLAGS}
    assert {f: payload["client"][f] for f in FLAGS} == only_this
    stored = await fetch_client(api, admin_token, client["id"])
    assert {f: stored[f] for f in FLAGS} == only_this

    payload = await update_client(api, admin_token, client["id"], **{flag: False})
    assert {f: payload["client"][f] for f in FLAGS} == dict.fromkeys(FLAGS, False)


async def test_1_5_default_payment_method_is_stored_returned_and_cleared(
    api: httpx.AsyncClient, admin_token: str
) -> None:
    client = await added_client(api, admin_token)

    chosen = await update_client(api, admin_token, client["id"], defaultPaymentMethod="testcard")
    assert chosen["client"]["defaultPaymentMethod"] == "testcard"
    assert (await fetch_client(api, admin_token, client["id"]))["defaultPaymentMethod"] == (
        "testcard"
    )

    cleared = await update_client(api, admin_token, client["id"], defaultPaymentMethod=None)
    assert cleared["client"]["defaultPaymentMethod"] is None


# --- 1.8 search, filter, sort, pages ---------------------------------------------------------


async def walk_pages(
    api: httpx.AsyncClient, token: str, page_size: int, *, backwards: bool = False, **arguments: Any
) -> list[str]:
    """Follow `endCursor` from the first page to the last (`startCursor` from the last page
    to the first when `backwards`); return the emails seen, in list order. Every page must
    say truly whether pages lie before and after it."""
    pages: list[list[str]] = []
    cursor = None
    for _ in range(len(PEOPLE) + 1):
        if backwards:
            page = await list_clients(api, token, last=page_size, before=cursor, **arguments)
        else:
            page = await list_clients(api, token, first=page_size, after=cursor, **arguments)
        edges, info = page["edges"], page["pageInfo"]
        assert 0 < len(edges) <= page_size
        assert (info["startCursor"], info["endCursor"]) == (edges[0]["cursor"], edges[-1]["cursor"])
        more_ahead = info["hasPreviousPage"] if backwards else info["hasNextPage"]
        more_behind = info["hasNextPage"] if backwards else info["hasPreviousPage"]
        assert more_behind is bool(pages), (page, pages)
        pages.append([edge["node"]["email"] for edge in edges])
        if not more_ahead:
            return [email for emails in (pages[::-1] if backwards else pages) for email in emails]
        cursor = info["startCursor"] if backwards else info["endCursor"]
    raise AssertionError(f"pagination does not end: {pages}")


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        pytest.param("young", ["anna.young@mail.example", "mark@web.example"], id="last-name"),
        pytest.param("joe BLOGGS", ["joe@bloggs.example"], id="full-name"),
        pytest.param("Bright hosting", ["zoe@bright.example", "ed@ng.example"], id="company"),
        pytest.param("MENDES.EX", ["CARLA@mendes.example"], id="email"),
        pytest.param("nobody", [], id="no-match"),
    ],
)
async def test_1_8_search_matches_part_of_name_company_or_email_in_any_case(
    api: httpx.AsyncClient,
    admin_token: str,
    conn: asyncpg.Connection,
    search: str,
    expected: list[str],
) -> None:
    await add_people(conn)

    found = await list_clients(api, admin_token, search=search)

    assert [edge["node"]["email"] for edge in found["edges"]] == expected
    assert found["totalCount"] == len(expected)


@pytest.mark.parametrize("statuses", [["ACTIVE"], ["INACTIVE", "CLOSED"], ["CLOSED"]], ids="+".join)
async def test_1_8_status_filter_keeps_only_those_statuses(
    api: httpx.AsyncClient, admin_token: str, conn: asyncpg.Connection, statuses: list[str]
) -> None:
    await add_people(conn)

    found = await list_clients(api, admin_token, status=statuses)

    expected = emails_where(lambda p: p["status"].value in statuses)
    assert [edge["node"]["email"] for edge in found["edges"]] == expected
    assert found["totalCount"] == len(expected)


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
@pytest.mark.parametrize("field", [f.value for f in ClientOrderField])
async def test_1_8_every_order_pages_through_all_clients_without_duplicates_or_misses(
    api: httpx.AsyncClient, admin_token: str, conn: asyncpg.Connection, field: str, direction: str
) -> None:
    await add_people(conn)

    seen = await walk_pages(
        api, admin_token, page_size=3, orderBy={"field": field, "direction": direction}
    )

    assert seen == emails_in_order(ClientOrderField(field), descending=direction == "DESC")


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
@pytest.mark.parametrize("field", [f.value for f in ClientOrderField])
async def test_1_8_every_order_pages_backwards_with_last_and_before(
    api: httpx.AsyncClient, admin_token: str, conn: asyncpg.Connection, field: str, direction: str
) -> None:
    await add_people(conn)

    order = {"field": field, "direction": direction}

    seen = await walk_pages(api, admin_token, page_size=3, backwards=True, orderBy=order)

    assert seen == emails_in_order(ClientOrderField(field), descending=direction == "DESC")


async def test_1_8_a_page_between_after_and_before_pages_either_way(
    api: httpx.AsyncClient, admin_token: str, conn: asyncpg.Connection
) -> None:
    await add_people(conn)
    everyone = (await list_clients(api, admin_token))["edges"]
    after, before = everyone[0]["cursor"], everyone[-1]["cursor"]
    between = [edge["node"]["email"] for edge in everyone[1:-1]]

    head = await list_clients(api, admin_token, first=2, after=after, before=before)
    tail = await list_clients(api, admin_token, last=2, after=after, before=before)

    assert [edge["node"]["email"] for edge in head["edges"]] == between[:2]
    assert [edge["node"]["email"] for edge in tail["edges"]] == between[-2:]
    assert head["pageInfo"]["hasPreviousPage"] and head["pageInfo"]["hasNextPage"]
    assert tail["pageInfo"]["hasPreviousPage"] and tail["pageInfo"]["hasNextPage"]


async def test_1_8_an_unasked_has_previous_page_costs_no_query(
    counted_api: CountedApi, admin_token: str, conn: asyncpg.Connection
) -> None:
    """Whether items precede an `after` takes a query of its own: only made when asked."""
    await add_people(conn)
    query = "query($after: String) { clients(first: 2, after: $after) { pageInfo { %s } } }"
    first = await gql(counted_api.api, query % "endCursor", token=admin_token)
    after = {"after": first["data"]["clients"]["pageInfo"]["endCursor"]}

    without = await counted_api.count(query % "hasNextPage", after, admin_token)
    with_it = await counted_api.count(query % "hasNextPage hasPreviousPage", after, admin_token)

    assert with_it == without + 1


async def test_1_8_total_count_respects_search_and_status_filter_across_pages(
    api: httpx.AsyncClient, admin_token: str, conn: asyncpg.Connection
) -> None:
    await add_people(conn)
    narrowed = {"search": "O", "status": ["ACTIVE", "INACTIVE"]}
    # Mark Young (CLOSED) and Carla Mendes (no "o") are left out; sorted by email.
    expected = [
        "anna.young@mail.example",
        "bob@zenith.example",
        "ed@ng.example",
        "joe@bloggs.example",
        "zoe@bright.example",
    ]

    first_page = await list_clients(
        api, admin_token, first=2, orderBy={"field": "EMAIL"}, **narrowed
    )
    seen = await walk_pages(api, admin_token, page_size=2, orderBy={"field": "EMAIL"}, **narrowed)

    assert first_page["totalCount"] == len(expected)
    assert first_page["totalCountIsEstimate"] is False
    assert seen == expected


async def test_1_8_total_count_beyond_the_cap_is_flagged_as_an_estimate(
    api: httpx.AsyncClient, admin_token: str, many_clients: int
) -> None:
    everyone = await list_clients(api, admin_token, first=1)
    closed = await list_clients(api, admin_token, first=1, status=["CLOSED"])

    assert everyone["totalCountIsEstimate"] is True
    assert abs(everyone["totalCount"] - many_clients) <= 0.1 * many_clients
    assert (closed["totalCount"], closed["totalCountIsEstimate"]) == (many_clients // 10, False)


def cursor(order: str, sort_value: Any, client_id: Any) -> str:
    """A cursor as the API makes them, with any content."""
    raw = json.dumps([f"clients/{order}", sort_value, client_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def test_cursors_made_before_with_spaced_json_still_decode() -> None:
    position = Position("Bloggs, Jöe", 7)
    made_before = cursor("NAME", "Bloggs, Jöe", 7)  # json.dumps: spaces, ASCII escapes
    assert decode_cursor("clients/NAME", made_before, "after") == position
    made_now = encode_cursor("clients/NAME", position)
    assert made_now != made_before
    assert decode_cursor("clients/NAME", made_now, "after") == position


@pytest.mark.parametrize("argument", ["after", "before"])
@pytest.mark.parametrize(
    ("given", "order"),
    [
        pytest.param("not-a-cursor", "ID", id="garbage"),
        pytest.param(cursor("ID", "1", True), "ID", id="id-not-an-integer"),
        pytest.param(cursor("NAME", "bloggs, joe", 1), "EMAIL", id="cursor-of-another-order"),
        pytest.param(cursor("ID", "not a number", 1), "ID", id="sort-value-of-wrong-type"),
        pytest.param(cursor("CREATED_AT", "yesterday-ish", 1), "CREATED_AT", id="not-a-date"),
        pytest.param(cursor("EMAIL", "a@example.com", 10**30), "EMAIL", id="id-out-of-range"),
    ],
)
async def test_1_8_invalid_cursor_is_a_graphql_error(
    api: httpx.AsyncClient,
    admin_token: str,
    conn: asyncpg.Connection,
    argument: str,
    given: str,
    order: str,
) -> None:
    await add_people(conn)
    size = "last" if argument == "before" else "first"

    body = await gql(
        api,
        CLIENTS,
        {argument: given, size: 10, "orderBy": {"field": order}},
        token=admin_token,
        allow_errors=True,
    )

    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    message = f"`{argument}` is not a cursor of this list in this order."
    assert body["errors"][0]["message"] == message


@pytest.mark.parametrize(
    "sizes",
    [
        {"first": 0},
        {"first": -1},
        {"first": 201},
        {"last": 0},
        {"last": 201},
        {"first": 1, "last": 1},
    ],
    ids=lambda sizes: ",".join(f"{k}={v}" for k, v in sizes.items()),
)
async def test_1_8_page_size_outside_1_to_200_or_both_sizes_is_a_graphql_error(
    api: httpx.AsyncClient, admin_token: str, sizes: dict[str, int]
) -> None:
    body = await gql(api, CLIENTS, sizes, token=admin_token, allow_errors=True)

    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


async def test_1_8_page_size_of_200_is_allowed(api: httpx.AsyncClient, admin_token: str) -> None:
    found = await list_clients(api, admin_token, first=200)

    assert found == {
        "edges": [],
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
        "totalCount": 0,
        "totalCountIsEstimate": False,
    }


# --- 10.2 general settings -------------------------------------------------------------------


async def test_10_2_general_settings_are_queried_with_their_defaults(
    api: httpx.AsyncClient, admin_token: str
) -> None:
    body = await gql(api, GENERAL_SETTINGS, token=admin_token)

    assert body["data"]["generalSettings"] == {
        "clientDisplayFormat": "NAME_ONLY",
        "passwordResetMode": "CHOOSE_PASSWORD",
    }


async def test_10_2_update_general_settings_changes_only_the_given_ones(
    api: httpx.AsyncClient, admin_token: str
) -> None:
    async def update(**changes: Any) -> dict[str, Any]:
        body = await gql(api, UPDATE_GENERAL_SETTINGS, {"input": changes}, token=admin_token)
        payload: dict[str, Any] = body["data"]["updateGeneralSettings"]
        assert payload["errors"] == []
        return payload

    first = await update(clientDisplayFormat="NAME_AND_COMPANY")
    second = await update(passwordResetMode="EMAIL_RANDOM")
    third = await update(clientDisplayFormat=None)  # null keeps the setting, like omitting it

    both = {"clientDisplayFormat": "NAME_AND_COMPANY", "passwordResetMode": "EMAIL_RANDOM"}
    assert first["settings"] == {**both, "passwordResetMode": "CHOOSE_PASSWORD"}
    assert second["settings"] == third["settings"] == both
    assert (await gql(api, GENERAL_SETTINGS, token=admin_token))["data"]["generalSettings"] == both
