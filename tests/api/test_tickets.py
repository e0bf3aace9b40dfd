"""SPEC 2.3: support tickets opened in the client area, staff replies, and who reads them
(inbound email: test_inbound_email.py). Sessions are opened on the domain directly: no
password is hashed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from domain.auth import sessions
from domain.auth.permissions import ContactPermission, StaffRole
from domain.clients import services as client_services
from domain.tickets.models import MAX_MESSAGE
from tests.conftest import gid, gql, pk

TTL = timedelta(hours=1)
HOLDER = "joe@example.com"
SUPPORT = "support-contact@example.com"

OPEN_TICKET = """
mutation Open($subject: String!, $message: String!) {
  openTicket(subject: $subject, message: $message) {
    ticket { id reference subject status openedBy } errors { field code message }
  }
}"""
REPLY = """
mutation Reply($ticketId: ID!, $message: String!) {
  replyToTicket(ticketId: $ticketId, message: $message) {
    ticket { id status } errors { field code message }
  }
}"""
TICKET_FIELDS = "id reference subject status openedBy messages { id at from body unverifiedSender }"
CLIENT_TICKETS = f"query($id: ID!) {{ client(id: $id) {{ tickets {{ {TICKET_FIELDS} }} }} }}"
MY_TICKETS = f"query {{ me {{ tickets {{ {TICKET_FIELDS} }} }} }}"


@dataclass(frozen=True)
class Desk:
    """A client with a SUPPORT-ticking contact (no login), and the sessions of the account
    holder and of a SUPPORT staff member."""

    client_id: int
    support_contact_id: int
    holder_token: str
    staff_token: str


async def staff_session(conn: asyncpg.Connection, role: StaffRole) -> str:
    login_id = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ($1) RETURNING id", f"{role.lower()}@staff.example.com"
    )
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) VALUES ($1, 'Sam', 'Staff', $2)",
        login_id,
        role.value,
    )
    return await sessions.start_session(conn, login_id, ttl=TTL)


async def add_client(conn: asyncpg.Connection, email: str) -> client_services.Client:
    return await client_services.add_client(
        conn,
        {"first_name": "Joe", "last_name": "Bloggs", "email": email},
        password=None,
        staff_id=None,
        send_welcome_email=False,
        client_area_url="http://127.0.0.1:8000",
    )


async def add_contact(
    conn: asyncpg.Connection,
    client_id: int,
    email: str,
    *,
    preferences: tuple[str, ...] = (),
    login: bool = False,
    permissions: tuple[ContactPermission, ...] = (),
) -> int:
    login_id = (
        await conn.fetchval("INSERT INTO logins (email) VALUES ($1) RETURNING id", email)
        if login
        else None
    )
    contact_id: int = await conn.fetchval(
        """INSERT INTO contacts (client_id, login_id, first_name, last_name, email,
                                 email_preferences, permissions)
           VALUES ($1, $2, 'Jane', 'Support', $3, $4, $5) RETURNING id""",
        client_id,
        login_id,
        email,
        list(preferences),
        [p.value for p in permissions],
    )
    return contact_id


async def open_desk(conn: asyncpg.Connection) -> Desk:
    client = await add_client(conn, HOLDER)
    contact_id = await add_contact(conn, client.id, SUPPORT, preferences=("SUPPORT", "GENERAL"))
    return Desk(
        client_id=client.id,
        support_contact_id=contact_id,
        holder_token=await sessions.start_session(conn, client.owner_login_id, ttl=TTL),
        staff_token=await staff_session(conn, StaffRole.SUPPORT),
    )


async def payload(
    api: httpx.AsyncClient, document: str, token: str, **variables: Any
) -> dict[str, Any]:
    body = await gql(api, document, variables, token=token)
    [result] = body["data"].values()
    return result  # type: ignore[no-any-return]


async def stored(conn: asyncpg.Connection) -> tuple[int, int, int, int]:
    """How many tickets, messages, clients and contacts there are."""
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM tickets), (SELECT count(*) FROM ticket_messages),
                  (SELECT count(*) FROM clients), (SELECT count(*) FROM contacts)"""
    )
    return tuple(row)  # type: ignore[return-value]


# --- opening tickets ------------------------------------------------------------------------


async def test_2_3_the_account_holder_opens_a_ticket_that_it_and_staff_read(
    api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    opened = await payload(
        api, OPEN_TICKET, desk.holder_token, subject=" Site down ", message="It is down.\nHelp!"
    )
    assert opened["errors"] == []
    ticket = opened["ticket"]
    assert (ticket["subject"], ticket["status"]) == ("Site down", "OPEN")
    assert ticket["openedBy"] == f"Joe Bloggs <{HOLDER}>"
    token = await conn.fetchval("SELECT reply_token FROM tickets")
    assert ticket["reference"] == f"[Ticket #{pk(ticket['id'], 'Ticket')}-{token}]"

    mine = (await gql(api, MY_TICKETS, token=desk.holder_token))["data"]["me"]["tickets"]
    staff_view = await gql(
        api, CLIENT_TICKETS, {"id": gid("Client", desk.client_id)}, token=desk.staff_token
    )
    assert mine == staff_view["data"]["client"]["tickets"]
    [message] = mine[0]["messages"]
    assert (message["from"], message["body"]) == (f"Joe Bloggs <{HOLDER}>", "It is down.\nHelp!")
    assert message["unverifiedSender"] is False


async def test_2_3_a_sub_account_with_tickets_opens_a_ticket_as_itself(
    api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    contact_id = await add_contact(
        conn,
        desk.client_id,
        "sub@example.com",
        login=True,
        permissions=(ContactPermission.TICKETS,),
    )
    login_id = await conn.fetchval("SELECT login_id FROM contacts WHERE id = $1", contact_id)
    token = await sessions.start_session(conn, login_id, ttl=TTL)

    opened = await payload(api, OPEN_TICKET, token, subject="Billing", message="A question.")

    assert opened["ticket"]["openedBy"] == "Jane Support <sub@example.com>"
    assert await conn.fetchval("SELECT contact_id FROM tickets") == contact_id


@pytest.mark.parametrize(
    ("subject", "message", "field", "code"),
    [
        ("", "Hi", "subject", "REQUIRED"),
        ("Help", "   ", "message", "REQUIRED"),
        ("x" * 256, "Hi", "subject", "INVALID"),
        ("Help", "x" * (MAX_MESSAGE + 1), "message", "INVALID"),
        ("Line\nbreak", "Hi", "subject", "INVALID"),
    ],
    ids=["no-subject", "blank-message", "long-subject", "long-message", "subject-line-break"],
)
async def test_2_3_ticket_subject_and_message_are_required_and_bounded(
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    desk: Desk,
    subject: str,
    message: str,
    field: str,
    code: str,
) -> None:
    refused = await payload(api, OPEN_TICKET, desk.holder_token, subject=subject, message=message)

    assert refused["ticket"] is None
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [(field, code)]
    assert (await stored(conn))[:2] == (0, 0)


# --- staff replies --------------------------------------------------------------------------


async def test_2_3_replying_needs_a_ticket_and_a_message(
    api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    opened = await payload(api, OPEN_TICKET, desk.holder_token, subject="Help", message="Hi")
    ticket_id = opened["ticket"]["id"]

    for ticket, message, field, code in [
        (gid("Ticket", 999), "Hello", "ticketId", "NOT_FOUND"),
        (gid("Client", desk.client_id), "Hello", "ticketId", "NOT_FOUND"),
        (ticket_id, " ", "message", "REQUIRED"),
        (ticket_id, "x" * (MAX_MESSAGE + 1), "message", "INVALID"),
    ]:
        refused = await payload(api, REPLY, desk.staff_token, ticketId=ticket, message=message)
        assert [(e["field"], e["code"]) for e in refused["errors"]] == [(field, code)]
    assert (
        await conn.fetchval("SELECT count(*) FROM emails WHERE template = 'support_ticket_reply'")
        == 0
    )
    assert await conn.fetchval("SELECT status FROM tickets") == "OPEN"


async def test_2_3_a_reply_is_recorded_in_the_audit_log(
    api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    opened = await payload(api, OPEN_TICKET, desk.holder_token, subject="Help", message="Hi")
    await payload(api, REPLY, desk.staff_token, ticketId=opened["ticket"]["id"], message="Done")

    entry = await conn.fetchrow(
        "SELECT action, client_id, changes FROM audit_log WHERE action LIKE 'ticket.%'"
    )
    assert (entry["action"], entry["client_id"]) == ("ticket.replied", desk.client_id)
    assert entry["changes"] == {"ticket_id": pk(opened["ticket"]["id"], "Ticket")}


# --- node -----------------------------------------------------------------------------------


async def test_2_3_tickets_and_messages_are_nodes_of_their_own_client_only(
    api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    opened = await payload(api, OPEN_TICKET, desk.holder_token, subject="Help", message="Hi")
    ticket_id = opened["ticket"]["id"]
    message_id = gid("TicketMessage", await conn.fetchval("SELECT id FROM ticket_messages"))
    other = await add_client(conn, "other@example.com")
    other_token = await sessions.start_session(conn, other.owner_login_id, ttl=TTL)
    sub_id = await add_contact(conn, desk.client_id, "sub@example.com", login=True)
    sub_login = await conn.fetchval("SELECT login_id FROM contacts WHERE id = $1", sub_id)
    sub_token = await sessions.start_session(conn, sub_login, ttl=TTL)
    query = """query($ids: [ID!]!) { nodes(ids: $ids) {
      __typename id ... on Ticket { subject } ... on TicketMessage { body } } }"""
    ids = {"ids": [ticket_id, message_id]}

    mine = await gql(api, query, ids, token=desk.holder_token)
    theirs = await gql(api, query, ids, token=other_token)
    refused = await gql(api, query, ids, token=sub_token, allow_errors=True)

    assert mine["data"]["nodes"] == [
        {"__typename": "Ticket", "id": ticket_id, "subject": "Help"},
        {"__typename": "TicketMessage", "id": message_id, "body": "Hi"},
    ]
    assert theirs["data"]["nodes"] == [None, None]
    assert {e["extensions"]["code"] for e in refused["errors"]} == {"FORBIDDEN"}
