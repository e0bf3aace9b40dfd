"""SPEC 2.3 and 8.1: support tickets opened in the client area or by inbound email, and the
"Support Ticket Reply" that staff send, through a real worker and SMTP server, to the
ticket's opener only. Sessions are opened on the domain directly: no password is hashed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import Message
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest

from app.settings import Settings
from app.web import create_app
from domain.auth import sessions
from domain.auth.permissions import ContactPermission, StaffRole
from domain.clients import services as client_services
from domain.tickets.models import MAX_MESSAGE
from tests.conftest import Services, gid, gql, pk
from tests.domain.test_email_templates import leads_to_a_documented_page, links_of

TTL = timedelta(hours=1)
SECRET = "inbound-test-secret"
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
TICKET_FIELDS = "id reference subject status openedBy messages { id at from body }"
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


@pytest.fixture
async def desk(conn: asyncpg.Connection) -> Desk:
    client = await add_client(conn, HOLDER)
    contact_id = await add_contact(conn, client.id, SUPPORT, preferences=("SUPPORT", "GENERAL"))
    return Desk(
        client_id=client.id,
        support_contact_id=contact_id,
        holder_token=await sessions.start_session(conn, client.owner_login_id, ttl=TTL),
        staff_token=await staff_session(conn, StaffRole.SUPPORT),
    )


@pytest.fixture
async def inbound_api(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with an inbound-email secret set."""
    app = create_app(settings.model_copy(update={"inbound_email_secret": SECRET}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def post_email(
    api: httpx.AsyncClient, sender: str, subject: str, text: str, secret: str | None = SECRET
) -> httpx.Response:
    headers = {"X-Inbound-Secret": secret} if secret is not None else {}
    return await api.post(
        "/inbound/email", json={"from": sender, "subject": subject, "text": text}, headers=headers
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


def text_and_html(message: Message) -> tuple[str, str]:
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }
    return parts["text/plain"], parts["text/html"]


# --- opening tickets ------------------------------------------------------------------------


async def test_2_3_the_account_holder_opens_a_ticket_that_it_and_staff_read(
    api: httpx.AsyncClient, desk: Desk
) -> None:
    opened = await payload(
        api, OPEN_TICKET, desk.holder_token, subject=" Site down ", message="It is down.\nHelp!"
    )
    assert opened["errors"] == []
    ticket = opened["ticket"]
    assert (ticket["subject"], ticket["status"]) == ("Site down", "OPEN")
    assert ticket["openedBy"] == f"Joe Bloggs <{HOLDER}>"
    assert ticket["reference"] == f"[Ticket #{pk(ticket['id'], 'Ticket')}]"

    mine = (await gql(api, MY_TICKETS, token=desk.holder_token))["data"]["me"]["tickets"]
    staff_view = await gql(
        api, CLIENT_TICKETS, {"id": gid("Client", desk.client_id)}, token=desk.staff_token
    )
    assert mine == staff_view["data"]["client"]["tickets"]
    [message] = mine[0]["messages"]
    assert (message["from"], message["body"]) == (f"Joe Bloggs <{HOLDER}>", "It is down.\nHelp!")


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


# --- inbound email --------------------------------------------------------------------------


async def test_2_3_8_1_inbound_email_opens_a_ticket_and_the_staff_reply_reaches_its_opener(
    inbound_api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    desk: Desk,
    run_worker: Any,
    services: Services,
    settings: Settings,
) -> None:
    """End to end: an email from a SUPPORT contact opens a ticket; the staff reply is sent by
    a real worker over SMTP to that contact alone, linking to the ticket's client-area page
    and carrying the reference by which the contact's answer joins the ticket again."""
    received = await post_email(
        inbound_api, f"Jane Support <{SUPPORT.upper()}>", "Mail bounces", "Since this morning."
    )
    assert received.status_code == 201, received.text
    ticket_id = received.json()["ticket"]
    assert received.json()["opened"] is True

    replied = await payload(
        inbound_api, REPLY, desk.staff_token, ticketId=ticket_id, message="Fixed <now> & then."
    )
    assert replied == {"ticket": {"id": ticket_id, "status": "ANSWERED"}, "errors": []}
    await run_worker()

    [message] = services.mail.messages
    assert message["To"] == f"Jane Support <{SUPPORT}>"
    reference = f"[Ticket #{pk(ticket_id, 'Ticket')}]"
    assert message["Subject"] == f"{reference} Mail bounces"
    text, html = text_and_html(message)
    assert "Fixed <now> & then." in text and "Fixed &lt;now&gt; &amp; then." in html
    page = f"{settings.client_area_base_url}/tickets/{quote(ticket_id, safe='')}"
    assert set(links_of(text) + links_of(html)) == {page}
    assert leads_to_a_documented_page(page, settings.client_area_base_url)
    assert await conn.fetchval("SELECT template FROM emails WHERE sent_at IS NOT NULL") == (
        "support_ticket_reply"
    )

    answer = await post_email(inbound_api, SUPPORT, f"Re: {reference} Mail bounces", "Thanks!")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ticket": ticket_id, "reference": reference, "opened": False}
    body = await gql(
        inbound_api, CLIENT_TICKETS, {"id": gid("Client", desk.client_id)}, token=desk.staff_token
    )
    [ticket] = body["data"]["client"]["tickets"]
    assert ticket["status"] == "CUSTOMER_REPLY"
    assert [(m["from"], m["body"]) for m in ticket["messages"]] == [
        (f"Jane Support <{SUPPORT}>", "Since this morning."),
        ("Sam Staff", "Fixed <now> & then."),
        (f"Jane Support <{SUPPORT}>", "Thanks!"),
    ]


async def test_2_3_a_support_contact_gets_the_reply_only_for_a_ticket_it_opened(
    inbound_api: httpx.AsyncClient, desk: Desk, run_worker: Any, services: Services
) -> None:
    """The holder's ticket and the SUPPORT contact's each get a reply; each opener receives
    its own reply and no copy of the other (no category copies for ticket replies)."""
    holders = await post_email(inbound_api, HOLDER, "Holder's question", "Q1")
    contacts = await post_email(inbound_api, SUPPORT, "Contact's question", "Q2")
    assert (holders.status_code, contacts.status_code) == (201, 201)
    for received, answer in ((holders, "A1"), (contacts, "A2")):
        replied = await payload(
            inbound_api, REPLY, desk.staff_token, ticketId=received.json()["ticket"], message=answer
        )
        assert replied["errors"] == []

    await run_worker()

    sent = sorted((m["To"], m["Subject"]) for m in services.mail.messages)
    assert sent == [
        (f"Jane Support <{SUPPORT}>", f"{contacts.json()['reference']} Contact's question"),
        (f"Joe Bloggs <{HOLDER}>", f"{holders.json()['reference']} Holder's question"),
    ]


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x"])
async def test_2_3_inbound_email_with_a_wrong_or_missing_secret_stores_nothing(
    inbound_api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk, secret: str | None
) -> None:
    before = await stored(conn)

    refused = await post_email(inbound_api, HOLDER, "Help", "Hi", secret=secret)

    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert await stored(conn) == before


async def test_2_3_inbound_email_is_refused_while_no_secret_is_set(
    api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    for secret in (None, ""):
        refused = await post_email(api, HOLDER, "Help", "Hi", secret=secret)
        assert refused.status_code == 503
        assert refused.json()["errors"][0]["code"] == "NOT_CONFIGURED"
    assert (await stored(conn))[:2] == (0, 0)


async def test_2_3_inbound_email_from_an_unknown_sender_is_refused_and_makes_no_client(
    inbound_api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    before = await stored(conn)

    refused = await post_email(inbound_api, "Stranger <nobody@example.org>", "Help", "Hi")

    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "field": "from",
            "code": "NOT_FOUND",
            "message": "No client or contact has the sender's address.",
        }
    ]
    assert await stored(conn) == before


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"from": "joe@example.com", "subject": "Help"}',
        b'{"from": "joe@example.com", "subject": "Help", "text": 7}',
        b'{"from": "joe@example.com", "subject": "Help", "text": "\\ud800"}',
        b"[" * 100 + b"]" * 100,
    ],
    ids=["not-json", "not-object", "no-text", "text-not-string", "lone-surrogate", "deep"],
)
async def test_2_3_inbound_email_that_is_not_an_email_object_is_refused(
    inbound_api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk, body: bytes
) -> None:
    refused = await inbound_api.post(
        "/inbound/email",
        content=body,
        headers={"X-Inbound-Secret": SECRET, "Content-Type": "application/json"},
    )

    assert refused.status_code == 400
    assert (await stored(conn))[:2] == (0, 0)


async def test_2_3_inbound_email_body_size_is_bounded(
    inbound_api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk, settings: Settings
) -> None:
    """A text longer than a ticket message may be is refused whole (never cut), and a body
    beyond the request limit is refused before it is read."""
    too_long = await post_email(inbound_api, HOLDER, "Help", "x" * (MAX_MESSAGE + 1))
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["field"] == "text"

    too_large = await post_email(inbound_api, HOLDER, "Help", "x" * settings.max_request_bytes)
    assert too_large.status_code == 413
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
    assert await conn.fetchval("SELECT count(*) FROM emails") == 0
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
