"""SPEC 2.1, 2.2, 2.5 and 8.3 through GraphQL: contacts, the billing contact and contact copies
of client emails over the real ASGI app, worker and SMTP sink; one client never reaches
another's contacts; a page of clients loads its contacts in a constant number of statements.

Sessions are opened on the domain directly (logging in is tested in test_auth.py): password
hashing would dominate these tests' run time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from email.utils import getaddresses
from typing import Any

import asyncpg
import httpx
import pytest

from domain.auth import sessions
from domain.auth.permissions import StaffRole
from domain.contacts import services as contact_services
from domain.emails.templates import TEMPLATES, EmailCategory
from tests import conftest
from tests.conftest import CountedApi, Services, gid, gql, pk

TTL = timedelta(hours=1)
ERRORS = "errors { field code message }"
CONTACT = """id clientId firstName lastName companyName email phoneNumber
    address { address1 address2 city state postcode country }
    emailPreferences { general invoice support product domain affiliate }
    subAccount permissions"""

ADD_CONTACT = f"""
mutation AddContact($clientId: ID!, $input: ContactInput!) {{
  addContact(clientId: $clientId, input: $input) {{ contact {{ {CONTACT} }} {ERRORS} }}
}}"""
UPDATE_CONTACT = f"""
mutation UpdateContact($id: ID!, $input: ContactInput!) {{
  updateContact(id: $id, input: $input) {{ contact {{ {CONTACT} }} {ERRORS} }}
}}"""
DELETE_CONTACT = f"mutation DeleteContact($id: ID!) {{ deleteContact(id: $id) {{ ok {ERRORS} }} }}"
CONTACT_BY_ID = f"query Contact($id: ID!) {{ contact(id: $id) {{ {CONTACT} }} }}"
CLIENT_CONTACTS = f"""
query ClientContacts($id: ID!) {{
  client(id: $id) {{ id contacts {{ {CONTACT} }} defaultBillingContact {{ id email }} }}
}}"""
SET_BILLING_CONTACT = f"""
mutation SetBilling($clientId: ID!, $contactId: ID) {{
  setDefaultBillingContact(clientId: $clientId, contactId: $contactId) {{
    client {{ id defaultBillingContact {{ id email firstName }} }} {ERRORS}
  }}
}}"""
SEND_CLIENT_EMAIL = f"""
mutation Send($clientId: ID!, $template: String!) {{
  sendClientEmail(clientId: $clientId, template: $template) {{ ok {ERRORS} }}
}}"""
MY_CONTACTS = "query { me { id contacts { id email firstName } } }"
ADD_MY_CONTACT = f"""
mutation AddMine($input: ContactInput!) {{
  addMyContact(input: $input) {{ contact {{ id clientId email }} {ERRORS} }}
}}"""
UPDATE_MY_CONTACT = f"""
mutation UpdateMine($id: ID!, $input: ContactInput!) {{
  updateMyContact(id: $id, input: $input) {{ contact {{ id clientId email firstName }} {ERRORS} }}
}}"""
DELETE_MY_CONTACT = f"""
mutation DeleteMine($id: ID!) {{ deleteMyContact(id: $id) {{ ok {ERRORS} }} }}"""

JANE = {"firstName": "Jane", "lastName": "Doe", "email": "jane@example.com"}
NO_PREFERENCES = dict.fromkeys(
    ("general", "invoice", "support", "product", "domain", "affiliate"), False
)
EMPTY_ADDRESS = dict.fromkeys(("address1", "address2", "city", "state", "postcode", "country"))
STATE_TABLES = ("clients", "contacts", "logins", "emails", "audit_log")


# --- helpers ---------------------------------------------------------------------------------


async def state(conn: asyncpg.Connection) -> dict[str, list[dict[str, Any]]]:
    """Every row a contact operation could change."""
    return {
        table: [dict(row) for row in await conn.fetch(f"SELECT * FROM {table} ORDER BY id")]
        for table in STATE_TABLES
    }


async def add_client(
    conn: asyncpg.Connection, email: str = "joe@example.com", first_name: str = "Joe"
) -> int:
    client = await conftest.add_client(conn, first_name=first_name, email=email)
    return client.id


async def add_contact_row(
    conn: asyncpg.Connection, client_id: int, email: str, **values: Any
) -> str:
    """A contact added on the domain (for tests about something else); its API id."""
    contact = await contact_services.add_contact(
        conn,
        client_id,
        {"first_name": "Jane", "last_name": "Doe", "email": email, **values},
        staff_id=None,
        may_grant_access=True,
    )
    return gid("Contact", contact.id)


async def client_token(conn: asyncpg.Connection, client_id: int) -> str:
    login_id = await conn.fetchval("SELECT owner_login_id FROM clients WHERE id = $1", client_id)
    return await sessions.start_session(conn, login_id, ttl=TTL)


@pytest.fixture
async def admin_token(conn: asyncpg.Connection) -> str:
    """An admin's session, opened directly (no password hashing)."""
    login_id = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ('admin@staff.example.com') RETURNING id"
    )
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) VALUES ($1, 'Sam', 'Staff', $2)",
        login_id,
        StaffRole.ADMIN.value,
    )
    return await sessions.start_session(conn, login_id, ttl=TTL)


@pytest.fixture
async def client_id(conn: asyncpg.Connection) -> int:
    return await add_client(conn)


async def call(
    api: httpx.AsyncClient, token: str, document: str, **variables: Any
) -> dict[str, Any]:
    """The payload of a one-field operation (which must not fail with top-level errors)."""
    body = await gql(api, document, variables, token=token)
    [payload] = body["data"].values()
    assert isinstance(payload, dict)
    return payload


async def added_contact(
    api: httpx.AsyncClient, token: str, client_id: int, **fields: Any
) -> dict[str, Any]:
    payload = await call(
        api, token, ADD_CONTACT, clientId=gid("Client", client_id), input={**JANE, **fields}
    )
    assert payload["errors"] == []
    contact: dict[str, Any] = payload["contact"]
    return contact


async def client_contacts(api: httpx.AsyncClient, token: str, client_id: int) -> dict[str, Any]:
    body = await gql(api, CLIENT_CONTACTS, {"id": gid("Client", client_id)}, token=token)
    client: dict[str, Any] = body["data"]["client"]
    return client


def refusals(payload: dict[str, Any]) -> set[tuple[str | None, str]]:
    """The (field, code) of each UserError; each must also say what is wrong."""
    assert all(error["message"] for error in payload["errors"])
    return {(error["field"], error["code"]) for error in payload["errors"]}


# --- 2.1 staff add, edit and delete contacts --------------------------------------------------


async def test_2_1_staff_add_a_contact_with_every_profile_field(
    api: httpx.AsyncClient, admin_token: str, client_id: int
) -> None:
    contact = await added_contact(
        api,
        admin_token,
        client_id,
        companyName="Doe Ltd",
        phoneNumber="+44 20 7946 0001",
        address1="2 High Street",
        address2="Unit 3",
        city="Leeds",
        state="West Yorkshire",
        postcode="LS1 1AA",
        country="GB",
    )

    assert contact == {
        "id": contact["id"],
        "clientId": gid("Client", client_id),
        **JANE,
        "companyName": "Doe Ltd",
        "phoneNumber": "+44 20 7946 0001",
        "address": {
            "address1": "2 High Street",
            "address2": "Unit 3",
            "city": "Leeds",
            "state": "West Yorkshire",
            "postcode": "LS1 1AA",
            "country": "GB",
        },
        "emailPreferences": NO_PREFERENCES,
        "subAccount": False,
        "permissions": [],
    }
    assert (await client_contacts(api, admin_token, client_id))["contacts"] == [contact]
    body = await gql(api, CONTACT_BY_ID, {"id": contact["id"]}, token=admin_token)
    assert body["data"]["contact"] == contact


async def test_2_1_a_contact_needs_only_first_name_last_name_and_email(
    api: httpx.AsyncClient, admin_token: str, client_id: int
) -> None:
    contact = await added_contact(api, admin_token, client_id)

    assert contact["companyName"] is None and contact["phoneNumber"] is None
    assert contact["address"] == EMPTY_ADDRESS
    assert (await client_contacts(api, admin_token, client_id))["contacts"] == [contact]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {},
            {("firstName", "REQUIRED"), ("lastName", "REQUIRED"), ("email", "REQUIRED")},
            id="missing",
        ),
        pytest.param(
            {"firstName": " ", "lastName": "", "email": None, "city": "Leeds"},
            {("firstName", "REQUIRED"), ("lastName", "REQUIRED"), ("email", "REQUIRED")},
            id="empty",
        ),
        pytest.param(
            {**JANE, "email": "jane-at-example", "phoneNumber": "call me", "country": "XX"},
            {("email", "INVALID"), ("phoneNumber", "INVALID"), ("country", "INVALID")},
            id="invalid",
        ),
    ],
)
async def test_2_1_invalid_new_contact_is_refused_per_field_and_nothing_is_stored(
    api: httpx.AsyncClient,
    admin_token: str,
    conn: asyncpg.Connection,
    client_id: int,
    fields: dict[str, Any],
    expected: set[tuple[str, str]],
) -> None:
    before = await state(conn)

    payload = await call(
        api, admin_token, ADD_CONTACT, clientId=gid("Client", client_id), input=fields
    )

    assert payload["contact"] is None
    assert refusals(payload) == expected
    assert await state(conn) == before


async def test_2_1_staff_update_changes_only_the_given_fields(
    api: httpx.AsyncClient, admin_token: str, client_id: int
) -> None:
    contact = await added_contact(api, admin_token, client_id, companyName="Doe Ltd", city="Leeds")

    payload = await call(
        api,
        admin_token,
        UPDATE_CONTACT,
        id=contact["id"],
        input={"lastName": "Smith", "email": "jane.smith@example.com", "city": None},
    )

    assert payload["errors"] == []
    expected = {
        **contact,
        "lastName": "Smith",
        "email": "jane.smith@example.com",
        "address": {**contact["address"], "city": None},
    }
    assert payload["contact"] == expected
    body = await gql(api, CONTACT_BY_ID, {"id": contact["id"]}, token=admin_token)
    assert body["data"]["contact"] == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"firstName": "", "lastName": None, "email": " "},
            {("firstName", "REQUIRED"), ("lastName", "REQUIRED"), ("email", "REQUIRED")},
            id="required-emptied",
        ),
        pytest.param(
            {"city": "York", "phoneNumber": "call me"},
            {("phoneNumber", "INVALID")},
            id="one-bad-of-two",
        ),
    ],
)
async def test_2_1_invalid_update_is_refused_per_field_and_nothing_changes(
    api: httpx.AsyncClient,
    admin_token: str,
    conn: asyncpg.Connection,
    client_id: int,
    fields: dict[str, Any],
    expected: set[tuple[str, str]],
) -> None:
    contact = await added_contact(api, admin_token, client_id)
    before = await state(conn)

    payload = await call(api, admin_token, UPDATE_CONTACT, id=contact["id"], input=fields)

    assert payload["contact"] is None
    assert refusals(payload) == expected
    assert await state(conn) == before


async def test_2_1_staff_delete_a_contact(
    api: httpx.AsyncClient, admin_token: str, client_id: int
) -> None:
    kept = await added_contact(api, admin_token, client_id, email="kept@example.com")
    gone = await added_contact(api, admin_token, client_id, email="gone@example.com")

    payload = await call(api, admin_token, DELETE_CONTACT, id=gone["id"])

    assert payload == {"ok": True, "errors": []}
    assert (await client_contacts(api, admin_token, client_id))["contacts"] == [kept]
    body = await gql(api, CONTACT_BY_ID, {"id": gone["id"]}, token=admin_token)
    assert body["data"]["contact"] is None
    # Gone for good: deleting it again finds nothing.
    again = await call(api, admin_token, DELETE_CONTACT, id=gone["id"])
    assert again["ok"] is False and refusals(again) == {("id", "NOT_FOUND")}


def unknown_id(kind: str, type_name: str) -> str:
    """An id that names no `type_name`: absent, malformed, or an existing row's of another type."""
    other = "Contact" if type_name == "Client" else "Client"
    ids = {
        "absent": gid(type_name, 999999),
        "malformed": "not-a-number",
        "other-type": gid(other, 1),
    }
    return ids[kind]


@pytest.mark.parametrize("unknown", ["absent", "malformed", "other-type"])
@pytest.mark.parametrize(
    ("document", "variables", "field"),
    [
        pytest.param(ADD_CONTACT, {"clientId": "{id}", "input": JANE}, "clientId", id="add"),
        pytest.param(UPDATE_CONTACT, {"id": "{id}", "input": {"city": "York"}}, "id", id="update"),
        pytest.param(DELETE_CONTACT, {"id": "{id}"}, "id", id="delete"),
        pytest.param(
            SET_BILLING_CONTACT, {"clientId": "{id}", "contactId": None}, "clientId", id="billing"
        ),
        pytest.param(
            SEND_CLIENT_EMAIL,
            {"clientId": "{id}", "template": "client_signup"},
            "clientId",
            id="send-email",
        ),
    ],
)
async def test_2_1_unknown_client_or_contact_ids_are_not_found(
    api: httpx.AsyncClient,
    admin_token: str,
    conn: asyncpg.Connection,
    client_id: int,
    document: str,
    variables: dict[str, Any],
    field: str,
    unknown: str,
) -> None:
    await add_contact_row(conn, client_id, "jane@example.com")
    before = await state(conn)
    wrong_id = unknown_id(unknown, "Client" if field == "clientId" else "Contact")
    filled = {k: wrong_id if v == "{id}" else v for k, v in variables.items()}

    payload = await call(api, admin_token, document, **filled)

    assert refusals(payload) == {(field, "NOT_FOUND")}
    assert await state(conn) == before
    body = await gql(api, CONTACT_BY_ID, {"id": unknown_id(unknown, "Contact")}, token=admin_token)
    assert body["data"]["contact"] is None


# --- 2.2 email preferences --------------------------------------------------------------------


async def test_2_2_the_six_preference_categories_are_stored_and_returned(
    api: httpx.AsyncClient, admin_token: str, client_id: int
) -> None:
    everything = dict.fromkeys(NO_PREFERENCES, True)

    contact = await added_contact(api, admin_token, client_id, emailPreferences=everything)

    assert contact["emailPreferences"] == everything
    body = await gql(api, CONTACT_BY_ID, {"id": contact["id"]}, token=admin_token)
    assert body["data"]["contact"]["emailPreferences"] == everything
    # And each one on its own.
    for category in NO_PREFERENCES:
        one = await added_contact(
            api,
            admin_token,
            client_id,
            email=f"{category}@example.com",
            emailPreferences={category: True},
        )
        assert one["emailPreferences"] == {**NO_PREFERENCES, category: True}


async def test_2_2_update_ticks_and_unticks_only_the_categories_given(
    api: httpx.AsyncClient, admin_token: str, client_id: int
) -> None:
    contact = await added_contact(
        api,
        admin_token,
        client_id,
        emailPreferences={"general": True, "invoice": True, "domain": True},
    )

    payload = await call(
        api,
        admin_token,
        UPDATE_CONTACT,
        id=contact["id"],
        input={"emailPreferences": {"invoice": False, "support": True, "general": None}},
    )

    expected = {**NO_PREFERENCES, "general": True, "support": True, "domain": True}
    assert payload["errors"] == []
    assert payload["contact"]["emailPreferences"] == expected
    # An update without preferences leaves them as they are.
    payload = await call(
        api, admin_token, UPDATE_CONTACT, id=contact["id"], input={"city": "Leeds"}
    )
    assert payload["contact"]["emailPreferences"] == expected
    body = await gql(api, CONTACT_BY_ID, {"id": contact["id"]}, token=admin_token)
    assert body["data"]["contact"]["emailPreferences"] == expected


# --- 2.5 default billing contact --------------------------------------------------------------


async def test_2_5_staff_set_the_default_billing_contact_and_null_resets_it(
    api: httpx.AsyncClient, admin_token: str, client_id: int
) -> None:
    await added_contact(api, admin_token, client_id, email="other@example.com")
    billing = await added_contact(api, admin_token, client_id, email="billing@example.com")
    assert (await client_contacts(api, admin_token, client_id))["defaultBillingContact"] is None

    payload = await call(
        api,
        admin_token,
        SET_BILLING_CONTACT,
        clientId=gid("Client", client_id),
        contactId=billing["id"],
    )

    named = {"id": billing["id"], "email": "billing@example.com", "firstName": "Jane"}
    assert payload == {
        "client": {"id": gid("Client", client_id), "defaultBillingContact": named},
        "errors": [],
    }
    client = await client_contacts(api, admin_token, client_id)
    assert client["defaultBillingContact"] == {"id": billing["id"], "email": "billing@example.com"}

    payload = await call(
        api, admin_token, SET_BILLING_CONTACT, clientId=gid("Client", client_id), contactId=None
    )

    assert payload["errors"] == [] and payload["client"]["defaultBillingContact"] is None
    assert (await client_contacts(api, admin_token, client_id))["defaultBillingContact"] is None


@pytest.mark.parametrize("which", ["another client's", "an empty id"])
async def test_2_5_a_contact_of_another_client_is_refused_and_nothing_changes(
    api: httpx.AsyncClient, admin_token: str, conn: asyncpg.Connection, client_id: int, which
) -> None:
    own = await add_contact_row(conn, client_id, "own@example.com")
    other_client = await add_client(conn, "other@example.com", first_name="Olga")
    foreign = await add_contact_row(conn, other_client, "foreign@example.com")
    await call(
        api, admin_token, SET_BILLING_CONTACT, clientId=gid("Client", client_id), contactId=own
    )
    before = await state(conn)

    payload = await call(
        api,
        admin_token,
        SET_BILLING_CONTACT,
        clientId=gid("Client", client_id),
        contactId=foreign if which == "another client's" else "",
    )

    assert payload["client"] is None
    assert refusals(payload) == {("contactId", "NOT_FOUND")}
    assert await state(conn) == before
    client = await client_contacts(api, admin_token, client_id)
    assert client["defaultBillingContact"] == {"id": own, "email": "own@example.com"}
    other = await client_contacts(api, admin_token, other_client)
    assert other["defaultBillingContact"] is None


async def test_2_5_deleting_the_billing_contact_makes_it_null_again(
    api: httpx.AsyncClient, admin_token: str, client_id: int
) -> None:
    billing = await added_contact(api, admin_token, client_id)
    await call(
        api,
        admin_token,
        SET_BILLING_CONTACT,
        clientId=gid("Client", client_id),
        contactId=billing["id"],
    )

    await call(api, admin_token, DELETE_CONTACT, id=billing["id"])

    client = await client_contacts(api, admin_token, client_id)
    assert client == {"id": gid("Client", client_id), "contacts": [], "defaultBillingContact": None}


# --- 8.3 contact copies of client emails, sent for real ----------------------------------------


def recipients(services: Services) -> list[str]:
    """The To address of each message the SMTP sink received, sorted."""
    return sorted(addr for m in services.mail.messages for _, addr in getaddresses([m["To"]]))


async def outbox(conn: asyncpg.Connection) -> list[tuple[str, int | None, bool]]:
    rows = await conn.fetch(
        "SELECT to_address, contact_id, sent_at IS NOT NULL AS sent FROM emails ORDER BY id"
    )
    return [(r["to_address"], r["contact_id"], r["sent"]) for r in rows]


async def test_8_3_client_email_is_copied_to_contacts_ticking_its_category(
    api: httpx.AsyncClient,
    admin_token: str,
    conn: asyncpg.Connection,
    client_id: int,
    run_worker: Any,
    services: Services,
) -> None:
    general = await add_contact_row(
        conn, client_id, "general@example.com", email_preferences={"GENERAL": True}
    )
    everything = await add_contact_row(
        conn,
        client_id,
        "all@example.com",
        email_preferences=dict.fromkeys(
            ("GENERAL", "INVOICE", "SUPPORT", "PRODUCT", "DOMAIN", "AFFILIATE"), True
        ),
    )
    await add_contact_row(
        conn,
        client_id,
        "invoices@example.com",
        email_preferences={"INVOICE": True, "SUPPORT": True},
    )
    await add_contact_row(conn, client_id, "nothing@example.com")
    other_client = await add_client(conn, "other@example.com", first_name="Olga")
    await add_contact_row(
        conn, other_client, "foreign@example.com", email_preferences={"GENERAL": True}
    )

    payload = await call(
        api,
        admin_token,
        SEND_CLIENT_EMAIL,
        clientId=gid("Client", client_id),
        template="client_signup",
    )
    assert payload == {"ok": True, "errors": []}
    assert await outbox(conn) == [
        ("joe@example.com", None, False),
        ("general@example.com", pk(general, "Contact"), False),
        ("all@example.com", pk(everything, "Contact"), False),
    ]

    await run_worker()

    assert recipients(services) == ["all@example.com", "general@example.com", "joe@example.com"]
    assert {m["Subject"] for m in services.mail.messages} == {"Welcome, Joe: your account is ready"}
    assert await outbox(conn) == [
        ("joe@example.com", None, True),
        ("general@example.com", pk(general, "Contact"), True),
        ("all@example.com", pk(everything, "Contact"), True),
    ]


async def test_8_3_invoice_email_is_sent_to_the_billing_contact(
    api: httpx.AsyncClient,
    admin_token: str,
    conn: asyncpg.Connection,
    client_id: int,
    run_worker: Any,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No invoice template exists yet: the Client Signup file stands in as one, for this test.
    monkeypatch.setitem(
        TEMPLATES,
        "client_signup",
        replace(TEMPLATES["client_signup"], category=EmailCategory.INVOICE),
    )
    billing = await add_contact_row(conn, client_id, "billing@example.com")
    copied = await add_contact_row(
        conn, client_id, "accounts@example.com", email_preferences={"INVOICE": True}
    )
    await add_contact_row(
        conn, client_id, "general@example.com", email_preferences={"GENERAL": True}
    )
    await call(
        api, admin_token, SET_BILLING_CONTACT, clientId=gid("Client", client_id), contactId=billing
    )

    await call(
        api,
        admin_token,
        SEND_CLIENT_EMAIL,
        clientId=gid("Client", client_id),
        template="client_signup",
    )
    await run_worker()

    assert recipients(services) == ["accounts@example.com", "billing@example.com"]
    assert await outbox(conn) == [
        ("billing@example.com", pk(billing, "Contact"), True),
        ("accounts@example.com", pk(copied, "Contact"), True),
    ]


async def test_8_3_an_unknown_template_is_refused_and_nothing_is_queued(
    api: httpx.AsyncClient, admin_token: str, conn: asyncpg.Connection, client_id: int
) -> None:
    await add_contact_row(
        conn, client_id, "general@example.com", email_preferences={"GENERAL": True}
    )

    payload = await call(
        api,
        admin_token,
        SEND_CLIENT_EMAIL,
        clientId=gid("Client", client_id),
        template="no_such_template",
    )

    assert payload["ok"] is False
    assert refusals(payload) == {("template", "INVALID")}
    assert await outbox(conn) == []


# --- a client never reaches another client's contacts ------------------------------------------


@dataclass
class TwoClients:
    mine: int
    theirs: int
    my_token: str
    my_contact: str
    their_contact: str


@pytest.fixture
async def two_clients(conn: asyncpg.Connection) -> TwoClients:
    mine = await add_client(conn, "a@example.com", first_name="Anna")
    theirs = await add_client(conn, "b@example.com", first_name="Bert")
    return TwoClients(
        mine=mine,
        theirs=theirs,
        my_token=await client_token(conn, mine),
        my_contact=await add_contact_row(conn, mine, "mine@example.com"),
        their_contact=await add_contact_row(
            conn, theirs, "theirs@example.com", email_preferences={"GENERAL": True}
        ),
    )


async def test_2_1_client_area_lists_and_changes_only_its_own_contacts(
    api: httpx.AsyncClient, conn: asyncpg.Connection, two_clients: TwoClients
) -> None:
    token = two_clients.my_token

    body = await gql(api, MY_CONTACTS, token=token)
    assert body["data"]["me"] == {
        "id": gid("Client", two_clients.mine),
        "contacts": [
            {"id": two_clients.my_contact, "email": "mine@example.com", "firstName": "Jane"}
        ],
    }

    added = await call(api, token, ADD_MY_CONTACT, input={**JANE, "email": "new@example.com"})
    assert added["errors"] == []
    assert added["contact"]["clientId"] == gid("Client", two_clients.mine)
    updated = await call(
        api, token, UPDATE_MY_CONTACT, id=two_clients.my_contact, input={"firstName": "Jo"}
    )
    assert updated["errors"] == [] and updated["contact"]["firstName"] == "Jo"
    deleted = await call(api, token, DELETE_MY_CONTACT, id=added["contact"]["id"])
    assert deleted == {"ok": True, "errors": []}

    body = await gql(api, MY_CONTACTS, token=token)
    assert [c["email"] for c in body["data"]["me"]["contacts"]] == ["mine@example.com"]
    their_contacts = await conn.fetch(
        "SELECT email::text FROM contacts WHERE client_id = $1", two_clients.theirs
    )
    assert [r["email"] for r in their_contacts] == ["theirs@example.com"]


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        pytest.param(
            UPDATE_MY_CONTACT,
            {"input": {"firstName": "Hacked", "email": "hacked@example.com"}},
            id="update",
        ),
        pytest.param(
            UPDATE_MY_CONTACT,
            {"input": {"emailPreferences": {"general": False, "invoice": True}}},
            id="preferences",
        ),
        pytest.param(DELETE_MY_CONTACT, {}, id="delete"),
    ],
)
async def test_2_1_a_client_cannot_change_another_clients_contact(
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    two_clients: TwoClients,
    document: str,
    variables: dict[str, Any],
) -> None:
    before = await state(conn)

    payload = await call(
        api, two_clients.my_token, document, id=two_clients.their_contact, **variables
    )

    assert refusals(payload) == {("id", "NOT_FOUND")}
    assert "theirs@example.com" not in str(payload)
    assert await state(conn) == before


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        pytest.param(CONTACT_BY_ID, {"id": "{their_contact}"}, id="contact"),
        pytest.param(CLIENT_CONTACTS, {"id": "{theirs}"}, id="client-contacts"),
        pytest.param(
            ADD_CONTACT, {"clientId": "{theirs}", "input": JANE}, id="add-to-their-client"
        ),
        pytest.param(
            UPDATE_CONTACT,
            {"id": "{their_contact}", "input": {"firstName": "Hacked"}},
            id="update",
        ),
        pytest.param(DELETE_CONTACT, {"id": "{their_contact}"}, id="delete"),
        pytest.param(
            SET_BILLING_CONTACT,
            {"clientId": "{theirs}", "contactId": "{their_contact}"},
            id="billing",
        ),
    ],
)
async def test_2_1_staff_contact_operations_are_forbidden_to_a_client(
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    two_clients: TwoClients,
    document: str,
    variables: dict[str, Any],
) -> None:
    ids = {
        "{theirs}": gid("Client", two_clients.theirs),
        "{their_contact}": two_clients.their_contact,
    }
    filled = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in variables.items()}
    before = await state(conn)

    body = await gql(api, document, filled, token=two_clients.my_token, allow_errors=True)

    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert body["data"] is None or set(body["data"].values()) == {None}
    assert "theirs@example.com" not in str(body)
    assert await state(conn) == before


# --- no N+1: a page of clients with their contacts in a constant number of statements ---------


CLIENTS_WITH_CONTACTS = """
query Page($first: Int!) {
  clients(first: $first) {
    edges { node {
      id email contacts { id email } defaultBillingContact { id } emails { subject }
    } }
  }
}"""


async def test_2_1_a_page_of_clients_loads_contacts_in_a_constant_number_of_statements(
    counted_api: CountedApi, admin_token: str, conn: asyncpg.Connection
) -> None:
    # 50 clients, each with two contacts (one its billing contact) and a sent email.
    expected: list[dict[str, Any]] = []
    for n in range(50):
        client = await conftest.add_client(
            conn, first_name=f"Client{n}", email=f"c{n}@example.com", send_welcome_email=True
        )
        other = await add_contact_row(conn, client.id, f"other{n}@example.com")
        billing = await add_contact_row(conn, client.id, f"billing{n}@example.com")
        await contact_services.set_billing_contact(
            conn, client.id, pk(billing, "Contact"), staff_id=None
        )
        expected.append(
            {
                "id": gid("Client", client.id),
                "email": f"c{n}@example.com",
                "contacts": [
                    {"id": other, "email": f"other{n}@example.com"},
                    {"id": billing, "email": f"billing{n}@example.com"},
                ],
                "defaultBillingContact": {"id": billing},
                "emails": [{"subject": "Welcome"}],
            }
        )
    # As the worker would leave them (sending is tested in tests/workers): in the email log.
    await conn.execute("UPDATE emails SET sent_at = now(), subject = 'Welcome', body = ''")
    # A new connection introspects each type it meets once (asyncpg's cache): warm up first.
    for _ in range(2):
        await counted_api.count(CLIENTS_WITH_CONTACTS, {"first": 50}, admin_token)

    counts: dict[int, int] = {}
    for page_size in (5, 50):
        counts[page_size] = await counted_api.count(
            CLIENTS_WITH_CONTACTS, {"first": page_size}, admin_token
        )
        nodes = [e["node"] for e in counted_api.last_body["data"]["clients"]["edges"]]
        assert nodes == expected[:page_size]

    assert counts[50] == counts[5], counted_api.statements
    # The session, the page, settings, currencies, the email logs, the contacts, the billing
    # contacts, and the reset of each connection given back to the pool.
    assert 0 < counts[50] <= 12, counted_api.statements
