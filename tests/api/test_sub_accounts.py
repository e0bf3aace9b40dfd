"""SPEC 2.4 (and 1.3, 5.1 as they touch sub-accounts) through GraphQL: a sub-account is a
contact with a login of its own that does in the client area exactly what its permissions
allow, checked on the server for every client-area operation; only the account holder or
staff manage sub-accounts; a sub-account's email is unique among logins.

Contacts CRUD, preferences, the billing contact and email copies are tested in
test_contacts.py. Sessions are opened on the domain directly and sub-accounts made with a
password hash computed once for the module, so that argon2 does not dominate the run time;
one test logs a sub-account in through the `login` mutation.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import PermissionExtension
from strawberry.types.base import get_object_definition
from strawberry.utils.str_converters import to_camel_case

from app.graphql import Mutation, Query
from domain.auth import passwords, sessions
from domain.auth.permissions import ContactPermission, StaffRole
from domain.billing import orders
from domain.billing.invoices import create_invoice
from domain.billing.models import ItemKind
from domain.catalogue import products
from domain.credit.ledger import record_entry
from domain.quotes import services as quotes
from domain.tickets import services as tickets
from resolvers.permissions import IsClientArea
from tests import conftest
from tests.api.introspection import type_fields
from tests.conftest import gid, gql, pk

TTL = timedelta(hours=1)
PASSWORD = "sub-password-1"
NEW_PASSWORD = "new-password-2"
PASSWORD_HASH = passwords.hash_password_blocking(PASSWORD)
EVERY_PERMISSION = sorted(p.value for p in ContactPermission)
FORBIDDEN = "FORBIDDEN"
ERRORS = "errors { field code message }"

OWNER_EMAIL = "owner@example.com"
BILLING_EMAIL = "billing@example.com"
EMAIL_SUBJECT = "Your invoice is ready"
STATE_TABLES = (
    "clients",
    "orders",
    "services",
    "domains",
    "invoices",
    "cancellation_requests",
    "contacts",
    "logins",
    "sessions",
    "emails",
    "audit_log",
    "tickets",
    "ticket_messages",
    "quotes",
    "invoices",
    "affiliates",
)

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    token viewer { kind email clientId contactId staffRole permissions }
    errors { field code message }
  }
}"""
VIEWER = "query { viewer { kind email clientId contactId staffRole permissions } }"
ME = "query { me { id status } }"
ADD_CONTACT = f"""
mutation AddContact($clientId: ID!, $input: ContactInput!) {{
  addContact(clientId: $clientId, input: $input) {{
    contact {{ id email subAccount permissions }} {ERRORS}
  }}
}}"""
UPDATE_CONTACT = f"""
mutation UpdateContact($id: ID!, $input: ContactInput!) {{
  updateContact(id: $id, input: $input) {{
    contact {{ id email subAccount permissions }} {ERRORS}
  }}
}}"""
DELETE_CONTACT = f"mutation DeleteContact($id: ID!) {{ deleteContact(id: $id) {{ ok {ERRORS} }} }}"
ADD_MY_CONTACT = f"""
mutation AddMine($input: ContactInput!) {{
  addMyContact(input: $input) {{ contact {{ id email subAccount permissions }} {ERRORS} }}
}}"""
UPDATE_MY_CONTACT = f"""
mutation UpdateMine($id: ID!, $input: ContactInput!) {{
  updateMyContact(id: $id, input: $input) {{
    contact {{ id email subAccount permissions }} {ERRORS}
  }}
}}"""
DELETE_MY_CONTACT = f"""
mutation DeleteMine($id: ID!) {{ deleteMyContact(id: $id) {{ ok {ERRORS} }} }}"""


# --- helpers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubAccount:
    contact_id: str
    login_id: int
    token: str


@dataclass(frozen=True)
class Account:
    """A client with a plain contact (also its billing contact) and one email in its log."""

    client_id: int
    owner_token: str
    plain_contact: str


async def state(conn: asyncpg.Connection) -> dict[str, list[dict[str, Any]]]:
    """Every row a client-area operation could change."""
    return {
        table: [dict(row) for row in await conn.fetch(f"SELECT * FROM {table} ORDER BY id")]
        for table in STATE_TABLES
    }


async def add_client(conn: asyncpg.Connection, email: str) -> int:
    client = await conftest.add_client(conn, email=email)
    return client.id


async def owner_session(conn: asyncpg.Connection, client_id: int) -> str:
    login_id = await conn.fetchval("SELECT owner_login_id FROM clients WHERE id = $1", client_id)
    return await sessions.start_session(conn, login_id, ttl=TTL)


async def add_sub_account(
    conn: asyncpg.Connection,
    client_id: int,
    email: str,
    permissions: set[ContactPermission] | frozenset[ContactPermission] = frozenset(),
) -> SubAccount:
    """A sub-account whose password is PASSWORD (its hash made once), with a session."""
    login_id = await conn.fetchval(
        "INSERT INTO logins (email, password_hash) VALUES ($1, $2) RETURNING id",
        email,
        PASSWORD_HASH,
    )
    contact_id = await conn.fetchval(
        """INSERT INTO contacts (client_id, login_id, first_name, last_name, email, permissions)
           VALUES ($1, $2, 'Sub', 'Account', $3, $4) RETURNING id""",
        client_id,
        login_id,
        email,
        sorted(p.value for p in permissions),
    )
    token = await sessions.start_session(conn, login_id, ttl=TTL)
    return SubAccount(gid("Contact", contact_id), login_id, token)


async def add_plain_contact(conn: asyncpg.Connection, client_id: int, email: str) -> str:
    contact_id = await conn.fetchval(
        """INSERT INTO contacts (client_id, first_name, last_name, email)
           VALUES ($1, 'Plain', 'Contact', $2) RETURNING id""",
        client_id,
        email,
    )
    return gid("Contact", contact_id)


@pytest.fixture
async def staff_token(conn: asyncpg.Connection) -> str:
    """An admin's session, opened directly."""
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
async def account(conn: asyncpg.Connection) -> Account:
    client_id = await add_client(conn, OWNER_EMAIL)
    plain = await add_plain_contact(conn, client_id, BILLING_EMAIL)
    await conn.execute(
        "UPDATE clients SET billing_contact_id = $2 WHERE id = $1", client_id, pk(plain, "Contact")
    )
    await conn.execute(
        """INSERT INTO emails (client_id, template, category, to_address, subject, sent_at)
           VALUES ($1, 'invoice_created', 'INVOICE', $2, $3, now())""",
        client_id,
        OWNER_EMAIL,
        EMAIL_SUBJECT,
    )
    return Account(client_id, await owner_session(conn, client_id), plain)


async def payload_of(
    api: httpx.AsyncClient, token: str, document: str, **variables: Any
) -> dict[str, Any]:
    """The payload of a one-field mutation (which must not fail with top-level errors)."""
    body = await gql(api, document, variables, token=token)
    [payload] = body["data"].values()
    assert isinstance(payload, dict)
    return payload


def refusals(payload: dict[str, Any]) -> set[tuple[str | None, str]]:
    """The (field, code) of each UserError; each must also say what is wrong."""
    assert all(error["message"] for error in payload["errors"])
    return {(error["field"], error["code"]) for error in payload["errors"]}


def assert_forbidden(body: dict[str, Any], path: list[str | int]) -> None:
    assert [e["extensions"]["code"] for e in body.get("errors", [])] == [FORBIDDEN], body
    assert body["errors"][0]["path"] == path
    value: Any = body.get("data")
    for key in path:
        if not isinstance(value, dict):
            break
        value = value.get(key)
    assert value is None, body


async def contact_row(conn: asyncpg.Connection, contact_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT c.login_id, c.permissions, c.email::text AS email,
                  l.email::text AS login_email, l.password_hash
             FROM contacts c LEFT JOIN logins l ON l.id = c.login_id WHERE c.id = $1""",
        pk(contact_id, "Contact"),
    )


async def viewer_of(api: httpx.AsyncClient, token: str) -> dict[str, Any] | None:
    body = await gql(api, VIEWER, token=token)
    viewer: dict[str, Any] | None = body["data"]["viewer"]
    return viewer


# --- 2.4 the permission matrix: every client-area operation ------------------------------------


Effect = Callable[[dict[str, Any], asyncpg.Connection, Account], Awaitable[None]]
Prepare = Callable[[asyncpg.Connection, Account], Awaitable[dict[str, Any]]]


async def _lists_contacts(data: dict[str, Any], conn: asyncpg.Connection, acc: Account) -> None:
    assert {"id": acc.plain_contact, "email": BILLING_EMAIL} in data["me"]["contacts"]


async def _shows_billing_contact(
    data: dict[str, Any], conn: asyncpg.Connection, acc: Account
) -> None:
    assert data["me"]["defaultBillingContact"] == {"id": acc.plain_contact, "email": BILLING_EMAIL}


async def _shows_emails(data: dict[str, Any], conn: asyncpg.Connection, acc: Account) -> None:
    assert data["me"]["emails"] == [{"subject": EMAIL_SUBJECT}]


async def _profile_changed(data: dict[str, Any], conn: asyncpg.Connection, acc: Account) -> None:
    assert data["updateMyProfile"]["errors"] == []
    company = await conn.fetchval("SELECT company_name FROM clients WHERE id = $1", acc.client_id)
    assert company == "Changed Company"


async def _contact_added(data: dict[str, Any], conn: asyncpg.Connection, acc: Account) -> None:
    assert data["addMyContact"]["errors"] == []
    added = await conn.fetchval(
        "SELECT client_id FROM contacts WHERE email = 'new@example.com' AND login_id IS NULL"
    )
    assert added == acc.client_id


async def _contact_updated(data: dict[str, Any], conn: asyncpg.Connection, acc: Account) -> None:
    assert data["updateMyContact"]["errors"] == []
    name = await conn.fetchval(
        "SELECT first_name FROM contacts WHERE id = $1", pk(acc.plain_contact, "Contact")
    )
    assert name == "Changed"


async def _contact_deleted(data: dict[str, Any], conn: asyncpg.Connection, acc: Account) -> None:
    assert data["deleteMyContact"] == {"ok": True, "errors": []}
    assert await contact_row(conn, acc.plain_contact) is None


async def _ticket_opened(data: dict[str, Any], conn: asyncpg.Connection, acc: Account) -> None:
    assert data["openTicket"]["errors"] == []
    opened = await conn.fetchval("SELECT client_id FROM tickets WHERE subject = 'Help'")
    assert opened == acc.client_id


async def _holders_ticket(conn: asyncpg.Connection, acc: Account) -> dict[str, Any]:
    """A ticket the account holder opened."""
    writer = await tickets.writer_of_viewer(conn, acc.client_id, None)
    ticket = await tickets.open_ticket(
        conn, writer, "Down", "It is down.", client_area_url=conftest.CLIENT_AREA_URL
    )
    return {"ticket": gid("Ticket", ticket.id)}


async def _ticket_answered(data: dict[str, Any], conn: asyncpg.Connection, acc: Account) -> None:
    assert data["replyToMyTicket"]["errors"] == []
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM ticket_messages m JOIN tickets t ON t.id = m.ticket_id "
            "WHERE t.client_id = $1 AND m.body = 'More.'",
            acc.client_id,
        )
        == 1
    )


async def _ticket_closed(data: dict[str, Any], conn: asyncpg.Connection, acc: Account) -> None:
    assert data["closeMyTicket"]["errors"] == []
    assert (
        await conn.fetchval(
            "SELECT status FROM tickets WHERE client_id = $1 AND subject = 'Down'", acc.client_id
        )
        == "CLOSED"
    )


async def _lists_tickets(data: dict[str, Any], conn: asyncpg.Connection, acc: Account) -> None:
    assert data["me"]["tickets"] == []


async def _invoice_with_credit(conn: asyncpg.Connection, acc: Account) -> dict[str, Any]:
    """An unpaid 10.00 invoice and 10.00 of credit to pay it with."""
    invoice = await create_invoice(
        conn,
        acc.client_id,
        items=[{"description": "Hosting", "amount": "10.00", "taxed": False}],
        due_date=None,
        payment_method="banktransfer",
        staff_id=None,
    )
    # After the invoice, which would otherwise take the credit as it is made.
    await record_entry(conn, client_id=acc.client_id, amount=Decimal("10.00"), description="Gift")
    return {"invoice": gid("Invoice", invoice.id)}


async def _invoice_paid(data: dict[str, Any], conn: asyncpg.Connection, acc: Account) -> None:
    assert data["payInvoice"]["errors"] == []
    assert data["payInvoice"]["invoice"]["status"] == "PAID"


async def _catalogue_product(conn: asyncpg.Connection, acc: Account) -> dict[str, Any]:
    """A visible product priced in the client's currency (USD), to order."""
    product = await products.save_product(
        conn,
        None,
        {
            "kind": ItemKind.SERVICE,
            "name": "Hosting",
            "pricing": [{"currency": "USD", "cycle": "MONTHLY", "amount": "4.00"}],
        },
    )
    return {"product": gid("Product", product.id)}


async def _order_placed(data: dict[str, Any], conn: asyncpg.Connection, acc: Account) -> None:
    assert data["placeMyOrder"]["errors"] == []
    assert data["placeMyOrder"]["order"]["invoice"]["total"] == "4.00"


async def _ordered(conn: asyncpg.Connection, acc: Account, kind: ItemKind) -> int:
    order = await orders.place_order(
        conn,
        acc.client_id,
        items=[{"kind": kind, "name": "example.com", "amount": "9.00"}],
        payment_method=None,
        staff_id=None,
    )
    return order.items[0].id


async def _a_service(conn: asyncpg.Connection, acc: Account) -> dict[str, Any]:
    return {"service": gid("Service", await _ordered(conn, acc, ItemKind.SERVICE))}


async def _a_domain(conn: asyncpg.Connection, acc: Account) -> dict[str, Any]:
    return {"domain": gid("Domain", await _ordered(conn, acc, ItemKind.DOMAIN))}


async def _cancellation_requested(
    data: dict[str, Any], conn: asyncpg.Connection, acc: Account
) -> None:
    assert data["requestCancellation"]["errors"] == []
    assert await conn.fetchval("SELECT count(*) FROM cancellation_requests") == 1


async def _auto_renew_off(data: dict[str, Any], conn: asyncpg.Connection, acc: Account) -> None:
    assert data["setDomainAutoRenew"]["domain"]["autoRenew"] is False
    assert await conn.fetchval("SELECT NOT bool_or(auto_renew) FROM domains")


async def _sent_quote(conn: asyncpg.Connection, acc: Account) -> dict[str, Any]:
    """A quote of the account's, sent, valid until today."""
    saved = await quotes.save_quote(
        conn,
        acc.client_id,
        quote_id=None,
        lines=[{"description": "Design", "amount": "50.00"}],
        valid_until=date.today(),
        staff_id=None,
    )
    page_id = gid("Quote", saved.id)
    await quotes.send_quote(
        conn, saved.id, staff_id=None, client_area_url="http://x", page_id=page_id
    )
    return {"quote": page_id}


async def _lists_quotes(data: dict[str, Any], conn: asyncpg.Connection, acc: Account) -> None:
    assert data["me"]["quotes"] == []


async def _quote_accepted(data: dict[str, Any], conn: asyncpg.Connection, acc: Account) -> None:
    assert data["acceptQuote"]["errors"] == []
    assert data["acceptQuote"]["quote"]["status"] == "ACCEPTED"
    assert await conn.fetchval("SELECT client_id FROM invoices") == acc.client_id


async def _shows_affiliate(data: dict[str, Any], conn: asyncpg.Connection, acc: Account) -> None:
    assert data["me"]["affiliate"] is None


async def _affiliate_activated(
    data: dict[str, Any], conn: asyncpg.Connection, acc: Account
) -> None:
    code = data["activateMyAffiliate"]["affiliate"]["referralCode"]
    assert await conn.fetchval("SELECT client_id FROM affiliates WHERE referral_code = $1", code)


@dataclass(frozen=True)
class AreaOperation:
    name: str
    permission: ContactPermission
    document: str
    # Where the refusal is reported.
    path: tuple[str, ...]
    effect: Effect
    # What the operation acts on beyond the account, made before it runs: its variables.
    prepare: Prepare | None = None

    def __str__(self) -> str:
        return f"{self.name}-{self.permission.value}"


AREA_OPERATIONS = [
    AreaOperation(
        "me.contacts",
        ContactPermission.CONTACTS,
        "query { me { id contacts { id email } } }",
        ("me", "contacts"),
        _lists_contacts,
    ),
    AreaOperation(
        "me.defaultBillingContact",
        ContactPermission.CONTACTS,
        "query { me { id defaultBillingContact { id email } } }",
        ("me", "defaultBillingContact"),
        _shows_billing_contact,
    ),
    AreaOperation(
        "me.emails",
        ContactPermission.EMAILS,
        "query { me { id emails { subject } } }",
        ("me", "emails"),
        _shows_emails,
    ),
    AreaOperation(
        "updateMyProfile",
        ContactPermission.PROFILE,
        f"""mutation {{ updateMyProfile(input: {{companyName: "Changed Company"}}) {{
              client {{ id companyName }} {ERRORS} }} }}""",
        ("updateMyProfile",),
        _profile_changed,
    ),
    AreaOperation(
        "addMyContact",
        ContactPermission.CONTACTS,
        f"""mutation {{ addMyContact(input: {{firstName: "New", lastName: "Contact",
              email: "new@example.com"}}) {{ contact {{ id email }} {ERRORS} }} }}""",
        ("addMyContact",),
        _contact_added,
    ),
    AreaOperation(
        "updateMyContact",
        ContactPermission.CONTACTS,
        f"""mutation($id: ID!) {{ updateMyContact(id: $id, input: {{firstName: "Changed"}}) {{
              contact {{ id firstName }} {ERRORS} }} }}""",
        ("updateMyContact",),
        _contact_updated,
    ),
    AreaOperation(
        "deleteMyContact",
        ContactPermission.CONTACTS,
        f"mutation($id: ID!) {{ deleteMyContact(id: $id) {{ ok {ERRORS} }} }}",
        ("deleteMyContact",),
        _contact_deleted,
    ),
    AreaOperation(
        "openTicket",
        ContactPermission.TICKETS,
        f"""mutation {{ openTicket(subject: "Help", message: "It is down.") {{
              ticket {{ id }} {ERRORS} }} }}""",
        ("openTicket",),
        _ticket_opened,
    ),
    AreaOperation(
        "replyToMyTicket",
        ContactPermission.TICKETS,
        f"""mutation($ticket: ID!) {{ replyToMyTicket(ticketId: $ticket, message: "More.") {{
              ticket {{ id }} {ERRORS} }} }}""",
        ("replyToMyTicket",),
        _ticket_answered,
        prepare=_holders_ticket,
    ),
    AreaOperation(
        "closeMyTicket",
        ContactPermission.TICKETS,
        f"""mutation($ticket: ID!) {{ closeMyTicket(id: $ticket) {{
              ticket {{ id }} {ERRORS} }} }}""",
        ("closeMyTicket",),
        _ticket_closed,
        prepare=_holders_ticket,
    ),
    AreaOperation(
        "me.tickets",
        ContactPermission.TICKETS,
        "query { me { id tickets { id subject } } }",
        ("me", "tickets"),
        _lists_tickets,
    ),
    AreaOperation(
        "payInvoice",
        ContactPermission.INVOICES,
        f"""mutation($invoice: ID!) {{ payInvoice(invoiceId: $invoice, source: CREDIT) {{
              invoice {{ id status }} {ERRORS} }} }}""",
        ("payInvoice",),
        _invoice_paid,
        prepare=_invoice_with_credit,
    ),
    AreaOperation(
        "placeMyOrder",
        ContactPermission.ORDERS,
        f"""mutation($product: ID!) {{ placeMyOrder(input: {{items: [{{productId: $product}}]}}) {{
              order {{ id invoice {{ total }} }} {ERRORS} }} }}""",
        ("placeMyOrder",),
        _order_placed,
        prepare=_catalogue_product,
    ),
    AreaOperation(
        "requestCancellation",
        ContactPermission.MANAGE_PRODUCTS,
        f"""mutation($service: ID!) {{ requestCancellation(serviceId: $service,
              type: END_OF_BILLING_PERIOD, reason: "Too dear") {{
              request {{ id }} {ERRORS} }} }}""",
        ("requestCancellation",),
        _cancellation_requested,
        prepare=_a_service,
    ),
    AreaOperation(
        "setDomainAutoRenew",
        ContactPermission.MANAGE_DOMAINS,
        f"""mutation($domain: ID!) {{ setDomainAutoRenew(domainId: $domain, autoRenew: false) {{
              domain {{ id autoRenew }} {ERRORS} }} }}""",
        ("setDomainAutoRenew",),
        _auto_renew_off,
        prepare=_a_domain,
    ),
    AreaOperation(
        "me.quotes",
        ContactPermission.QUOTES,
        "query { me { id quotes { id status } } }",
        ("me", "quotes"),
        _lists_quotes,
    ),
    AreaOperation(
        "acceptQuote",
        ContactPermission.QUOTES,
        f"""mutation($quote: ID!) {{ acceptQuote(id: $quote) {{
              quote {{ id status }} {ERRORS} }} }}""",
        ("acceptQuote",),
        _quote_accepted,
        prepare=_sent_quote,
    ),
    AreaOperation(
        "me.affiliate",
        ContactPermission.AFFILIATES,
        "query { me { id affiliate { referralCode } } }",
        ("me", "affiliate"),
        _shows_affiliate,
    ),
    AreaOperation(
        "activateMyAffiliate",
        ContactPermission.AFFILIATES,
        f"mutation {{ activateMyAffiliate {{ affiliate {{ referralCode }} {ERRORS} }} }}",
        ("activateMyAffiliate",),
        _affiliate_activated,
    ),
]


async def prepared(conn: asyncpg.Connection, op: AreaOperation, acc: Account) -> dict[str, Any]:
    """The variables of `op` run for `acc`, after making what it acts on."""
    variables = {"id": acc.plain_contact} if "$id" in op.document else {}
    return {**variables, **(await op.prepare(conn, acc) if op.prepare else {})}


async def run(
    api: httpx.AsyncClient, op: AreaOperation, token: str, variables: dict[str, Any]
) -> dict[str, Any]:
    return await gql(api, op.document, variables, token=token, allow_errors=True)


def _client_area_permission(extensions: list[FieldExtension]) -> tuple[bool, str | None]:
    for extension in extensions:
        if isinstance(extension, PermissionExtension):
            for permission in extension.permissions:
                if isinstance(permission, IsClientArea):
                    return True, permission.permission and permission.permission.value
    return False, None


def test_2_4_the_matrix_covers_every_client_area_root_operation() -> None:
    """A new client-area query or mutation must join AREA_OPERATIONS (and state its
    permission there) before this passes; `me` needs none. Operations on the viewer's own
    login (two-factor, SPEC 11.2) are every login kind's, not the client area's."""
    declared: dict[str, str | None] = {}
    for root in (Query, Mutation):
        for field in get_object_definition(root, strict=True).fields:
            is_area, permission = _client_area_permission(field.extensions)
            if is_area:
                declared[field.graphql_name or to_camel_case(field.python_name)] = permission
    in_matrix = {op.name: op.permission.value for op in AREA_OPERATIONS if "." not in op.name}
    assert declared == {"me": None, **in_matrix}


def test_14_1_every_permission_guards_an_operation() -> None:
    """A permission that guards nothing is a setting that changes nothing (issue 22): each
    one guards a client-area operation or a part of the client that `me` shows."""
    guarding = {op.permission for op in AREA_OPERATIONS} | {
        needed for needed in CLIENT_FIELD_PERMISSIONS.values() if needed is not None
    }
    assert set(ContactPermission) - guarding == set()


@pytest.mark.parametrize("op", AREA_OPERATIONS, ids=str)
async def test_2_4_sub_account_with_the_permission_succeeds(
    api: httpx.AsyncClient, conn: asyncpg.Connection, account: Account, op: AreaOperation
) -> None:
    sub = await add_sub_account(conn, account.client_id, "sub@example.com", {op.permission})
    variables = await prepared(conn, op, account)

    body = await run(api, op, sub.token, variables)

    assert "errors" not in body, body
    await op.effect(body["data"], conn, account)


@pytest.mark.parametrize("op", AREA_OPERATIONS, ids=str)
async def test_2_4_sub_account_without_permission_is_refused(
    api: httpx.AsyncClient, conn: asyncpg.Connection, account: Account, op: AreaOperation
) -> None:
    every_other = frozenset(ContactPermission) - {op.permission}
    sub = await add_sub_account(conn, account.client_id, "sub@example.com", every_other)
    variables = await prepared(conn, op, account)
    before = await state(conn)

    body = await run(api, op, sub.token, variables)

    assert_forbidden(body, list(op.path))
    assert op.permission.value in body["errors"][0]["message"]
    for secret in (BILLING_EMAIL, EMAIL_SUBJECT):
        assert secret not in str(body)
    assert await state(conn) == before


@pytest.mark.parametrize("op", AREA_OPERATIONS, ids=str)
async def test_2_4_the_account_holder_may_do_everything(
    api: httpx.AsyncClient, conn: asyncpg.Connection, account: Account, op: AreaOperation
) -> None:
    body = await run(api, op, account.owner_token, await prepared(conn, op, account))

    assert "errors" not in body, body
    await op.effect(body["data"], conn, account)


# The operations naming objects of the account (not the catalogue's products, anyone's):
# another client's sub-account, granted what they need, names them in vain.
ON_THE_ACCOUNTS_OBJECTS = [
    op for op in AREA_OPERATIONS if set(re.findall(r"\$\w+", op.document)) - {"$product"}
]


@pytest.mark.parametrize("op", ON_THE_ACCOUNTS_OBJECTS, ids=str)
async def test_2_4_another_clients_sub_account_finds_none_of_the_accounts_objects(
    api: httpx.AsyncClient, conn: asyncpg.Connection, account: Account, op: AreaOperation
) -> None:
    other = await add_client(conn, "other@example.com")
    sub = await add_sub_account(conn, other, "sub@example.com", {op.permission})
    variables = await prepared(conn, op, account)
    before = await state(conn)

    body = await run(api, op, sub.token, variables)

    assert "errors" not in body, body
    [payload] = body["data"].values()
    assert {code for _, code in refusals(payload)} == {"NOT_FOUND"}, payload
    assert not any(value for key, value in payload.items() if key != "errors"), payload
    for secret in (BILLING_EMAIL, EMAIL_SUBJECT):
        assert secret not in str(body)
    assert await state(conn) == before


# What a sub-account needs to read each field of its own client through `me`; None: reaching
# the client is enough. A new Client field fails the test below until it is listed here.
CLIENT_FIELD_PERMISSIONS: dict[str, ContactPermission | None] = {
    "id": None,
    "status": None,
    "currency": None,
    "createdAt": None,
    "notes": None,  # always null in the client area
    **dict.fromkeys(
        ("firstName", "lastName", "companyName", "email", "phoneNumber", "address"),
        ContactPermission.PROFILE,
    ),
    **dict.fromkeys(
        ("displayName", "language", "twoFactorEnabled", "lastLoginAt", "updatedAt"),
        ContactPermission.PROFILE,
    ),
    **dict.fromkeys(
        ("creditBalance", "overdueNoticesDisabled", "lateFeesExempt", "taxExempt"),
        ContactPermission.INVOICES,
    ),
    **dict.fromkeys(
        ("separateInvoices", "ccProcessingDisabled", "defaultPaymentMethod"),
        ContactPermission.INVOICES,
    ),
    "contacts": ContactPermission.CONTACTS,
    "files": ContactPermission.PROFILE,
    "defaultBillingContact": ContactPermission.CONTACTS,
    "emails": ContactPermission.EMAILS,
    **dict.fromkeys(("services", "addons"), ContactPermission.PRODUCTS),
    "domains": ContactPermission.DOMAINS,
    "tickets": ContactPermission.TICKETS,
    "quotes": ContactPermission.QUOTES,
    "affiliate": ContactPermission.AFFILIATES,
    # Former account ids are account details, like the profile.
    "mergedFrom": ContactPermission.PROFILE,
    **dict.fromkeys(("invoices", "transactions", "creditLog", "card"), ContactPermission.INVOICES),
}
SUBSELECTIONS = {
    "address": "{ city }",
    "currency": "{ code }",
    "contacts": "{ id }",
    "defaultBillingContact": "{ id }",
    "emails": "{ subject }",
    **dict.fromkeys(("services", "addons", "domains", "invoices", "transactions"), "{ id }"),
    "creditLog": "{ id }",
    "card": "{ lastFour }",
    "tickets": "{ id messages { from } }",
    "files": "{ id }",
    "quotes": "{ id }",
    "affiliate": "{ referralCode }",
}


def test_2_4_every_client_field_states_what_a_sub_account_needs_to_read_it() -> None:
    fields = type_fields("Client")
    missing = sorted(fields - set(CLIENT_FIELD_PERMISSIONS))
    assert not missing, f"Client fields missing from CLIENT_FIELD_PERMISSIONS: {missing}"
    assert not set(CLIENT_FIELD_PERMISSIONS) - fields


@pytest.mark.parametrize(
    "granted",
    [frozenset(), frozenset({ContactPermission.PROFILE}), frozenset({ContactPermission.INVOICES})],
    ids=lambda granted: "+".join(sorted(granted)) or "none",
)
async def test_2_4_a_sub_account_reads_of_its_client_only_what_it_was_granted(
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    account: Account,
    granted: frozenset[ContactPermission],
) -> None:
    """`me` itself needs no permission; its profile fields need PROFILE and its money
    fields (credit balance, billing flags) INVOICES, each refused on its own."""
    sub = await add_sub_account(conn, account.client_id, "sub@example.com", granted)
    for field, permission in CLIENT_FIELD_PERMISSIONS.items():
        selection = f"{field} {SUBSELECTIONS.get(field, '')}"
        body = await gql(
            api, f"query {{ me {{ id {selection} }} }}", token=sub.token, allow_errors=True
        )
        if permission is None or permission in granted:
            assert "errors" not in body, (field, body)
            assert body["data"]["me"]["id"] == gid("Client", account.client_id)
        else:
            assert_forbidden(body, ["me", field])
            assert permission.value in body["errors"][0]["message"]


async def test_2_4_the_account_holder_reads_every_field_of_its_client(
    api: httpx.AsyncClient, account: Account
) -> None:
    selection = " ".join(f"{f} {SUBSELECTIONS.get(f, '')}" for f in CLIENT_FIELD_PERMISSIONS)
    body = await gql(api, f"query {{ me {{ {selection} }} }}", token=account.owner_token)
    me = body["data"]["me"]
    assert (me["email"], me["creditBalance"], me["notes"]) == (OWNER_EMAIL, "0.00", None)


async def test_2_4_the_billing_contact_needs_contacts_even_when_none_is_set(
    api: httpx.AsyncClient, conn: asyncpg.Connection, account: Account
) -> None:
    """Whether a billing contact is set is itself something CONTACTS shows."""
    await conn.execute("UPDATE clients SET billing_contact_id = NULL")
    sub = await add_sub_account(
        conn, account.client_id, "sub@example.com", {ContactPermission.EMAILS}
    )

    body = await gql(
        api, "query { me { id defaultBillingContact { id } } }", token=sub.token, allow_errors=True
    )

    assert_forbidden(body, ["me", "defaultBillingContact"])


async def test_2_4_permissions_are_checked_against_the_current_grant(
    api: httpx.AsyncClient, conn: asyncpg.Connection, account: Account
) -> None:
    """The holder's change takes effect on the sub-account's next request, same session."""
    sub = await add_sub_account(
        conn, account.client_id, "sub@example.com", {ContactPermission.EMAILS}
    )
    emails = "query { me { emails { subject } } }"
    assert "errors" not in await gql(api, emails, token=sub.token)

    revoked = await payload_of(
        api,
        account.owner_token,
        UPDATE_MY_CONTACT,
        id=sub.contact_id,
        input={"permissions": ["PROFILE"]},
    )
    assert revoked["errors"] == []
    assert_forbidden(await gql(api, emails, token=sub.token, allow_errors=True), ["me", "emails"])
    assert (await viewer_of(api, sub.token) or {})["permissions"] == ["PROFILE"]


async def test_2_4_a_sub_account_reaches_only_its_own_clients_contacts(
    api: httpx.AsyncClient, conn: asyncpg.Connection, account: Account
) -> None:
    other_client = await add_client(conn, "other@example.com")
    their_contact = await add_plain_contact(conn, other_client, "theirs@example.com")
    sub = await add_sub_account(
        conn, account.client_id, "sub@example.com", frozenset(ContactPermission)
    )
    before = await state(conn)

    attempts: list[tuple[str, dict[str, Any]]] = [
        (UPDATE_MY_CONTACT, {"id": their_contact, "input": {"firstName": "Hacked"}}),
        (DELETE_MY_CONTACT, {"id": their_contact}),
    ]
    for document, variables in attempts:
        payload = await payload_of(api, sub.token, document, **variables)
        assert refusals(payload) == {("id", "NOT_FOUND")}
        assert "theirs@example.com" not in str(payload)
    assert await state(conn) == before
    body = await gql(api, "query { me { contacts { email } } }", token=sub.token)
    assert body["data"]["me"]["contacts"] == [
        {"email": BILLING_EMAIL},
        {"email": "sub@example.com"},
    ]


# --- 2.4 / 5.1 a sub-account logs in and the viewer says who it is -----------------------------


async def test_2_4_a_sub_account_logs_in_with_its_own_email_and_password(
    api: httpx.AsyncClient, conn: asyncpg.Connection, account: Account, staff_token: str
) -> None:
    added = await payload_of(
        api,
        staff_token,
        ADD_CONTACT,
        clientId=gid("Client", account.client_id),
        input={
            "firstName": "Sue",
            "lastName": "Sub",
            "email": "sue@example.com",
            "subAccount": True,
            "password": PASSWORD,
            "permissions": ["INVOICES", "CONTACTS", "INVOICES"],
        },
    )
    assert added["errors"] == []
    contact_id = added["contact"]["id"]
    row = await contact_row(conn, contact_id)
    assert row is not None and row["login_email"] == "sue@example.com"
    assert row["password_hash"].startswith("$argon2id$")

    body = await gql(api, LOGIN, {"email": "sue@example.com", "password": PASSWORD})

    payload = body["data"]["login"]
    assert payload["errors"] == []
    expected = {
        "kind": "CONTACT",
        "email": "sue@example.com",
        "clientId": gid("Client", account.client_id),
        "contactId": contact_id,
        "staffRole": None,
        "permissions": ["CONTACTS", "INVOICES"],
    }
    assert payload["viewer"] == expected
    assert await viewer_of(api, payload["token"]) == expected
    me = await gql(api, ME, token=payload["token"])
    assert me["data"]["me"] == {"id": gid("Client", account.client_id), "status": "ACTIVE"}


async def test_2_4_viewer_of_the_account_holder_has_every_permission(
    api: httpx.AsyncClient, account: Account
) -> None:
    viewer = await viewer_of(api, account.owner_token)
    assert viewer == {
        "kind": "CLIENT",
        "email": OWNER_EMAIL,
        "clientId": gid("Client", account.client_id),
        "contactId": None,
        "staffRole": None,
        "permissions": EVERY_PERMISSION,
    }


# --- 2.4 only the account holder (or staff) grants access --------------------------------------


@dataclass(frozen=True)
class AccessChange:
    """A change of who may log in with what: the target ('self', 'other', 'plain' or None to
    add a new contact), the input, and what the holder's doing it must leave behind."""

    target: str | None
    input: dict[str, Any]
    # After the holder's change: the target's (login email or None, permissions), and the
    # address invited to make a login, if any.
    login_email: str | None
    permissions: list[str]
    invited: str | None = None


NEW_CONTACT = {"firstName": "Nat", "lastName": "New", "email": "nat@example.com"}
ACCESS_CHANGES = {
    "self-permissions": AccessChange(
        "self", {"permissions": EVERY_PERMISSION}, "self@example.com", EVERY_PERMISSION
    ),
    # A sub-account's password is refused to the holder too: invitations replace it.
    "self-password": AccessChange("self", {"password": NEW_PASSWORD}, None, []),
    "self-sub-account-off": AccessChange("self", {"subAccount": False}, None, ["CONTACTS"]),
    "other-permissions": AccessChange(
        "other",
        {"permissions": ["CONTACTS", "EMAILS"]},
        "other@example.com",
        ["CONTACTS", "EMAILS"],
    ),
    "other-password": AccessChange("other", {"password": NEW_PASSWORD}, None, []),
    "plain-becomes-sub-account": AccessChange(
        "plain",
        {"subAccount": True, "permissions": EVERY_PERMISSION},
        None,
        EVERY_PERMISSION,
        invited=BILLING_EMAIL,
    ),
    "add-sub-account": AccessChange(
        None,
        {**NEW_CONTACT, "subAccount": True, "permissions": ["PROFILE"]},
        None,
        ["PROFILE"],
        invited="nat@example.com",
    ),
}
# What the account holder may change: everything but passwords, which invitations replace
# (test_invitations.py).
HOLDER_CHANGES = {k: v for k, v in ACCESS_CHANGES.items() if "password" not in v.input}
ACCESS_FIELDS = ("subAccount", "password", "permissions")


@dataclass(frozen=True)
class Team:
    account: Account
    me: SubAccount  # holds CONTACTS only
    other: SubAccount  # holds EMAILS only

    def target(self, name: str | None) -> str | None:
        return {
            "self": self.me.contact_id,
            "other": self.other.contact_id,
            "plain": self.account.plain_contact,
        }.get(name or "")


@pytest.fixture
async def team(conn: asyncpg.Connection, account: Account) -> Team:
    me = await add_sub_account(
        conn, account.client_id, "self@example.com", {ContactPermission.CONTACTS}
    )
    other = await add_sub_account(
        conn, account.client_id, "other@example.com", {ContactPermission.EMAILS}
    )
    return Team(account, me, other)


async def apply(
    api: httpx.AsyncClient, team: Team, change: AccessChange, token: str
) -> dict[str, Any]:
    target = team.target(change.target)
    if target is None:
        return await payload_of(api, token, ADD_MY_CONTACT, input=change.input)
    return await payload_of(api, token, UPDATE_MY_CONTACT, id=target, input=change.input)


@pytest.mark.parametrize("change", ACCESS_CHANGES.values(), ids=ACCESS_CHANGES)
async def test_2_4_a_sub_account_cannot_grant_access(
    api: httpx.AsyncClient, conn: asyncpg.Connection, team: Team, change: AccessChange
) -> None:
    before = await state(conn)

    payload = await apply(api, team, change, team.me.token)

    assert payload["contact"] is None
    assert refusals(payload) == {(f, FORBIDDEN) for f in ACCESS_FIELDS if f in change.input}
    assert await state(conn) == before


@pytest.mark.parametrize("change", HOLDER_CHANGES.values(), ids=HOLDER_CHANGES)
async def test_2_4_the_account_holder_grants_access(
    api: httpx.AsyncClient, conn: asyncpg.Connection, team: Team, change: AccessChange
) -> None:
    payload = await apply(api, team, change, team.account.owner_token)

    assert payload["errors"] == []
    contact_id = payload["contact"]["id"]
    row = await contact_row(conn, contact_id)
    assert row is not None
    assert (row["login_email"], row["permissions"]) == (change.login_email, change.permissions)
    assert payload["contact"]["subAccount"] is ((change.login_email or change.invited) is not None)
    invitations = await conn.fetch(
        "SELECT to_address FROM emails WHERE template = 'sub_account_invitation'"
    )
    assert [r["to_address"] for r in invitations] == ([change.invited] if change.invited else [])
    # A removed login ends the target's sessions; others stay.
    target = {"self": team.me, "other": team.other}.get(change.target or "")
    if target is not None:
        still_in = change.login_email is not None
        assert (await viewer_of(api, target.token) is not None) is still_in
    assert await viewer_of(api, team.account.owner_token) is not None


# A login's email, or the login itself, is the holder's to change too: whoever owns a new address
# could take the login over (with a password reset), and removing one is revoking access. The
# holder's new address for a sub-account is invited like a new sub-account (test_invitations.py).
UPDATE_MY_PROFILE = f"""
mutation Profile($input: UpdateMyProfileInput!) {{
  updateMyProfile(input: $input) {{ client {{ id email }} {ERRORS} }}
}}"""
MALLORY = "mallory@example.com"


@dataclass(frozen=True)
class LoginChange:
    document: str
    target: str | None  # "self", "other", or None: the client's profile (the holder's login)
    variables: dict[str, Any]
    refused_field: str


LOGIN_CHANGES = {
    "other-sub-accounts-email": LoginChange(
        UPDATE_MY_CONTACT, "other", {"input": {"email": MALLORY}}, "email"
    ),
    "own-email": LoginChange(UPDATE_MY_CONTACT, "self", {"input": {"email": MALLORY}}, "email"),
    "account-holders-email": LoginChange(
        UPDATE_MY_PROFILE, None, {"input": {"email": MALLORY}}, "email"
    ),
    "delete-other-sub-account": LoginChange(DELETE_MY_CONTACT, "other", {}, "id"),
}


async def change_login(
    api: httpx.AsyncClient, team: Team, change: LoginChange, token: str
) -> dict[str, Any]:
    ids = {"id": team.target(change.target)} if change.target else {}
    return await payload_of(api, token, change.document, **ids, **change.variables)


@pytest.mark.parametrize("change", LOGIN_CHANGES.values(), ids=LOGIN_CHANGES)
async def test_2_4_a_sub_account_cannot_change_or_remove_a_login(
    api: httpx.AsyncClient, conn: asyncpg.Connection, team: Team, change: LoginChange
) -> None:
    """Even holding every permission (CONTACTS and PROFILE included)."""
    await conn.execute(
        "UPDATE contacts SET permissions = $2 WHERE id = $1",
        pk(team.me.contact_id, "Contact"),
        EVERY_PERMISSION,
    )
    before = await state(conn)

    payload = await change_login(api, team, change, team.me.token)

    assert refusals(payload) == {(change.refused_field, FORBIDDEN)}
    assert await state(conn) == before


# The holder's own login address changes once confirmed (SPEC 5.5, test_login_email.py).
SUB_ACCOUNT_LOGIN_CHANGES = {k: v for k, v in LOGIN_CHANGES.items() if v.target is not None}


@pytest.mark.parametrize(
    "change", SUB_ACCOUNT_LOGIN_CHANGES.values(), ids=SUB_ACCOUNT_LOGIN_CHANGES
)
async def test_2_4_the_account_holder_changes_or_removes_a_login(
    api: httpx.AsyncClient, conn: asyncpg.Connection, team: Team, change: LoginChange
) -> None:
    payload = await change_login(api, team, change, team.account.owner_token)

    assert payload["errors"] == []
    target = team.target(change.target)
    assert target is not None
    if change.document is DELETE_MY_CONTACT:
        assert await contact_row(conn, target) is None
        assert (
            await conn.fetchval("SELECT count(*) FROM logins WHERE id = $1", team.other.login_id)
            == 0
        )
        assert await viewer_of(api, team.other.token) is None
    else:
        # A new address is a new login, by invitation: the old login ends.
        row = await contact_row(conn, target)
        assert row is not None and (row["email"], row["login_id"]) == (MALLORY, None)
        invited = await conn.fetchval(
            "SELECT to_address FROM emails WHERE template = 'sub_account_invitation'"
        )
        assert invited == MALLORY
        old = team.me if change.target == "self" else team.other
        assert await viewer_of(api, old.token) is None


async def test_2_4_a_sub_account_edits_a_plain_contacts_email_and_its_own_emails_case(
    api: httpx.AsyncClient, conn: asyncpg.Connection, team: Team
) -> None:
    """Plain contacts have no login; a case change keeps the same login."""
    plain = await payload_of(
        api,
        team.me.token,
        UPDATE_MY_CONTACT,
        id=team.account.plain_contact,
        input={"email": "new-billing@example.com"},
    )
    own = await payload_of(
        api,
        team.me.token,
        UPDATE_MY_CONTACT,
        id=team.me.contact_id,
        input={"email": "SELF@example.com", "firstName": "Selma"},
    )

    assert plain["errors"] == [] and own["errors"] == []
    assert (await contact_row(conn, team.account.plain_contact) or {})["email"] == (
        "new-billing@example.com"
    )
    assert (await viewer_of(api, team.me.token) or {})["email"] == "SELF@example.com"


# --- 2.4 staff end a sub-account's access --------------------------------------------------------


async def test_2_4_staff_turning_sub_account_off_deletes_its_login_and_sessions(
    api: httpx.AsyncClient, conn: asyncpg.Connection, account: Account, staff_token: str
) -> None:
    sub = await add_sub_account(
        conn, account.client_id, "sub@example.com", {ContactPermission.PROFILE}
    )
    assert (await viewer_of(api, sub.token) or {})["kind"] == "CONTACT"

    payload = await payload_of(
        api, staff_token, UPDATE_CONTACT, id=sub.contact_id, input={"subAccount": False}
    )

    assert payload["errors"] == []
    assert payload["contact"]["subAccount"] is False
    row = await contact_row(conn, sub.contact_id)
    assert row is not None and row["login_id"] is None  # the contact stays, without a login
    assert await conn.fetchval("SELECT count(*) FROM logins WHERE id = $1", sub.login_id) == 0
    assert (
        await conn.fetchval("SELECT count(*) FROM sessions WHERE login_id = $1", sub.login_id) == 0
    )
    assert await viewer_of(api, sub.token) is None
    body = await gql(api, ME, token=sub.token, allow_errors=True)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    assert await viewer_of(api, account.owner_token) is not None


async def test_2_4_a_password_change_by_staff_ends_the_sub_accounts_sessions(
    api: httpx.AsyncClient, conn: asyncpg.Connection, account: Account, staff_token: str
) -> None:
    sub = await add_sub_account(conn, account.client_id, "sub@example.com")
    other = await add_sub_account(conn, account.client_id, "other@example.com")
    second_session = await sessions.start_session(conn, sub.login_id, ttl=TTL)

    payload = await payload_of(
        api, staff_token, UPDATE_CONTACT, id=sub.contact_id, input={"password": NEW_PASSWORD}
    )

    assert payload["errors"] == []
    row = await contact_row(conn, sub.contact_id)
    assert row is not None and row["login_id"] == sub.login_id
    assert row["password_hash"].startswith("$argon2id$")
    assert await passwords.verify_password(row["password_hash"], NEW_PASSWORD)
    for token in (sub.token, second_session):
        assert await viewer_of(api, token) is None
    for token in (other.token, account.owner_token, staff_token):
        assert await viewer_of(api, token) is not None


@pytest.mark.parametrize("by", ["staff", "account-holder"])
async def test_2_4_deleting_a_sub_account_deletes_its_login(
    api: httpx.AsyncClient, conn: asyncpg.Connection, account: Account, staff_token: str, by: str
) -> None:
    sub = await add_sub_account(conn, account.client_id, "sub@example.com")
    token, document = (
        (staff_token, DELETE_CONTACT) if by == "staff" else (account.owner_token, DELETE_MY_CONTACT)
    )

    payload = await payload_of(api, token, document, id=sub.contact_id)

    assert payload == {"ok": True, "errors": []}
    assert await contact_row(conn, sub.contact_id) is None
    assert await conn.fetchval("SELECT count(*) FROM logins WHERE id = $1", sub.login_id) == 0
    assert await viewer_of(api, sub.token) is None


# --- 2.4 a sub-account's email is unique among logins --------------------------------------------

# Each taken address as another login holds it, written in another case.
TAKEN = {
    "staff": "ADMIN@staff.example.com",
    "client": "Other.Owner@EXAMPLE.com",
    "sub-account": "Taken.SUB@example.com",
    "own-client": "OWNER@example.com",
}


async def make_sub_account_with(
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    account: Account,
    token: str,
    way: str,
    email: str,
) -> dict[str, Any]:
    """Try to give a sub-account `email`: by adding one, by changing an existing one's email,
    or by turning on a plain contact that already has it."""
    if way == "add":
        return await payload_of(
            api,
            token,
            ADD_CONTACT,
            clientId=gid("Client", account.client_id),
            input={**NEW_CONTACT, "email": email, "subAccount": True, "password": NEW_PASSWORD},
        )
    if way == "change-email":
        sub = await add_sub_account(conn, account.client_id, "mine@example.com")
        return await payload_of(
            api, token, UPDATE_CONTACT, id=sub.contact_id, input={"email": email}
        )
    plain = await add_plain_contact(conn, account.client_id, email)
    return await payload_of(
        api,
        token,
        UPDATE_CONTACT,
        id=plain,
        input={"subAccount": True, "password": NEW_PASSWORD},
    )


@pytest.fixture
async def other_logins(conn: asyncpg.Connection) -> None:
    """Another client's owner and sub-account (the staff login comes with `staff_token`)."""
    other = await add_client(conn, "other.owner@example.com")
    await add_sub_account(conn, other, "taken.sub@example.com")


@pytest.mark.parametrize("way", ["add", "change-email", "turn-on"])
@pytest.mark.parametrize("taken_by", TAKEN)
async def test_2_4_a_sub_accounts_email_is_unique_among_logins(
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    account: Account,
    staff_token: str,
    other_logins: None,
    taken_by: str,
    way: str,
) -> None:
    email = TAKEN[taken_by]
    logins_before = await conn.fetch("SELECT * FROM logins ORDER BY id")

    payload = await make_sub_account_with(api, conn, account, staff_token, way, email)

    assert payload["contact"] is None
    assert refusals(payload) == {("email", "CONFLICT")}
    # Nothing changed: no login was added or renamed (the setup's own sub-account aside).
    logins_after = await conn.fetch("SELECT * FROM logins ORDER BY id")
    assert logins_after[: len(logins_before)] == logins_before
    assert [r["email"] for r in logins_after[len(logins_before) :]] == (
        ["mine@example.com"] if way == "change-email" else []
    )


async def test_2_4_a_plain_contact_may_share_an_email_with_any_login(
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    account: Account,
    staff_token: str,
    other_logins: None,
) -> None:
    for email in [*TAKEN.values(), BILLING_EMAIL]:
        payload = await payload_of(
            api,
            staff_token,
            ADD_CONTACT,
            clientId=gid("Client", account.client_id),
            input={**NEW_CONTACT, "email": email},
        )
        assert payload["errors"] == [], email
        assert payload["contact"]["subAccount"] is False
    count = await conn.fetchval(
        "SELECT count(*) FROM contacts WHERE client_id = $1", account.client_id
    )
    assert count == 1 + len(TAKEN) + 1


@pytest.mark.parametrize("operation", ["addClient", "updateClient"])
async def test_2_4_a_client_cannot_take_a_sub_accounts_email(
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    account: Account,
    staff_token: str,
    other_logins: None,
    operation: str,
) -> None:
    before = await state(conn)
    if operation == "addClient":
        document = f"""mutation {{ addClient(sendWelcomeEmail: false, input: {{firstName: "A",
                        lastName: "B", email: "TAKEN.sub@example.com"}}) {{
                        client {{ id }} {ERRORS} }} }}"""
        variables: dict[str, Any] = {}
    else:
        document = f"""mutation($id: ID!) {{ updateClient(id: $id, input: {{
                        email: "TAKEN.sub@example.com"}}) {{ client {{ id }} {ERRORS} }} }}"""
        variables = {"id": gid("Client", account.client_id)}

    payload = await payload_of(api, staff_token, document, **variables)

    assert refusals(payload) == {("email", "CONFLICT")}
    assert await state(conn) == before


# --- 1.3 / 5.1 a closed client's sub-accounts ----------------------------------------------------


async def test_1_3_a_closed_clients_sub_account_cannot_log_in(
    api: httpx.AsyncClient, conn: asyncpg.Connection, account: Account, staff_token: str
) -> None:
    await add_sub_account(conn, account.client_id, "sub@example.com", {ContactPermission.PROFILE})
    closed = await payload_of(
        api,
        staff_token,
        f"""mutation($id: ID!) {{ setClientStatus(id: $id, status: CLOSED) {{
              client {{ status }} {ERRORS} }} }}""",
        id=gid("Client", account.client_id),
    )
    assert closed == {"client": {"status": "CLOSED"}, "errors": []}
    sessions_before = await conn.fetchval("SELECT count(*) FROM sessions")

    body = await gql(api, LOGIN, {"email": "sub@example.com", "password": PASSWORD})

    payload = body["data"]["login"]
    assert (payload["token"], payload["viewer"]) == (None, None)
    assert refusals(payload) == {("email", "ACCOUNT_CLOSED")}
    assert await conn.fetchval("SELECT count(*) FROM sessions") == sessions_before


async def test_1_3_closing_a_client_ends_its_sub_accounts_sessions(
    api: httpx.AsyncClient, conn: asyncpg.Connection, account: Account, staff_token: str
) -> None:
    subs = [
        await add_sub_account(
            conn, account.client_id, f"sub{i}@example.com", {ContactPermission.PROFILE}
        )
        for i in range(2)
    ]
    other_client = await add_client(conn, "other@example.com")
    outsider = await add_sub_account(conn, other_client, "outsider@example.com")
    set_status = f"""mutation($id: ID!, $status: ClientStatus!) {{
        setClientStatus(id: $id, status: $status) {{ client {{ status }} {ERRORS} }} }}"""

    closed = await payload_of(
        api, staff_token, set_status, id=gid("Client", account.client_id), status="CLOSED"
    )

    assert closed["errors"] == []
    for sub in subs:
        assert await viewer_of(api, sub.token) is None
    assert await viewer_of(api, account.owner_token) is None
    # Gone, not merely hidden: reopening the account does not bring them back.
    logins = [sub.login_id for sub in subs]
    remaining = await conn.fetchval(
        "SELECT count(*) FROM sessions WHERE login_id = ANY($1::bigint[])", logins
    )
    assert remaining == 0
    await payload_of(
        api, staff_token, set_status, id=gid("Client", account.client_id), status="ACTIVE"
    )
    assert await viewer_of(api, subs[0].token) is None
    assert (await viewer_of(api, outsider.token) or {})["clientId"] == gid("Client", other_client)


# --- 10.1 staff operations stay forbidden to sub-accounts ---------------------------------------

STAFF_OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "clients": ("query { clients { totalCount edges { node { id email } } } }", {}),
    "client": ("query($client: ID!) { client(id: $client) { id email } }", {}),
    "contact": ("query($contact: ID!) { contact(id: $contact) { id email } }", {}),
    "addContact": (ADD_CONTACT.replace("$clientId", "$client"), {"input": NEW_CONTACT}),
    "updateContact": (
        UPDATE_CONTACT.replace("$id", "$contact"),
        {"input": {"permissions": EVERY_PERMISSION}},
    ),
    "deleteContact": (DELETE_CONTACT.replace("$id", "$contact"), {}),
    "updateClient": (
        f"""mutation($client: ID!) {{ updateClient(id: $client, input: {{notes: "x"}}) {{
              client {{ id }} {ERRORS} }} }}""",
        {},
    ),
    "setClientStatus": (
        f"""mutation($client: ID!) {{ setClientStatus(id: $client, status: INACTIVE) {{
              client {{ id }} {ERRORS} }} }}""",
        {},
    ),
    "setDefaultBillingContact": (
        f"""mutation($client: ID!) {{ setDefaultBillingContact(clientId: $client,
              contactId: null) {{ client {{ id }} {ERRORS} }} }}""",
        {},
    ),
}


@pytest.mark.parametrize("field", STAFF_OPERATIONS)
async def test_10_1_staff_operations_are_forbidden_to_a_sub_account(
    api: httpx.AsyncClient, conn: asyncpg.Connection, account: Account, field: str
) -> None:
    """Even one holding every client-area permission, on its own client and contact."""
    sub = await add_sub_account(
        conn, account.client_id, "sub@example.com", frozenset(ContactPermission)
    )
    document, variables = STAFF_OPERATIONS[field]
    ids = {"client": gid("Client", account.client_id), "contact": sub.contact_id}
    variables = {**{k: v for k, v in ids.items() if f"${k}" in document}, **variables}
    before = await state(conn)

    body = await gql(api, document, variables, token=sub.token, allow_errors=True)

    assert_forbidden(body, [field])
    assert OWNER_EMAIL not in str(body)
    assert await state(conn) == before
