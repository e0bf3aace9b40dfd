"""SPEC 2.3 and 8.1: support tickets by inbound email, through `POST /inbound/email`, and the
"Support Ticket Reply" that staff send, through a real worker and SMTP server, to the
ticket's opener only, carrying the reference by which an answer joins the ticket again."""

from __future__ import annotations

import re
from email.message import Message
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest

from app.settings import Settings
from domain.tickets.models import MAX_MESSAGE
from tests.api.inbound import AUTHENTICATED, SECRET, post_email
from tests.api.test_tickets import (
    CLIENT_TICKETS,
    HOLDER,
    REPLY,
    SUPPORT,
    Desk,
    payload,
    stored,
)
from tests.conftest import Services, gid, gql, pk
from tests.domain.test_email_templates import leads_to_a_documented_page, links_of


def text_and_html(message: Message) -> tuple[str, str]:
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }
    return parts["text/plain"], parts["text/html"]


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
        inbound_api,
        f"Jane Support <{SUPPORT.upper()}>",
        "Mail bounces",
        "Since this morning.",
        authentication=AUTHENTICATED,
    )
    assert received.status_code == 201, received.text
    ticket_id = received.json()["ticket"]
    assert received.json()["opened"] is True
    token = await conn.fetchval("SELECT reply_token FROM tickets")
    assert re.fullmatch("[0-9a-f]{16}", token)
    reference = f"[Ticket #{pk(ticket_id, 'Ticket')}-{token}]"
    assert received.json()["reference"] == reference

    replied = await payload(
        inbound_api, REPLY, desk.staff_token, ticketId=ticket_id, message="Fixed <now> & then."
    )
    assert replied == {"ticket": {"id": ticket_id, "status": "ANSWERED"}, "errors": []}
    await run_worker()

    # The acknowledgement of the opening (SPEC 15.1), then the reply.
    [message] = [m for m in services.mail.messages if "has replied" in text_and_html(m)[0]]
    [acknowledgement] = [m for m in services.mail.messages if m is not message]
    assert (acknowledgement["To"], acknowledgement["Subject"]) == (
        f"Jane Support <{SUPPORT}>",
        f"{reference} Mail bounces",
    )
    assert message["To"] == f"Jane Support <{SUPPORT}>"
    assert message["Subject"] == f"{reference} Mail bounces"
    text, html = text_and_html(message)
    assert f"keep {reference} in the subject" in " ".join(text.split())
    assert "Fixed <now> & then." in text and "Fixed &lt;now&gt; &amp; then." in html
    page = f"{settings.client_area_base_url}/tickets/{quote(ticket_id, safe='')}"
    assert set(links_of(text) + links_of(html)) == {page}
    assert leads_to_a_documented_page(page, settings.client_area_base_url)
    sent = await conn.fetch("SELECT template FROM emails WHERE sent_at IS NOT NULL ORDER BY id")
    assert [row["template"] for row in sent] == ["support_ticket_opened", "support_ticket_reply"]

    answer = await post_email(
        inbound_api,
        SUPPORT,
        f"Re: {message['Subject']}",
        "Thanks!",
        authentication=AUTHENTICATED,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ticket": ticket_id, "reference": reference, "opened": False}
    body = await gql(
        inbound_api, CLIENT_TICKETS, {"id": gid("Client", desk.client_id)}, token=desk.staff_token
    )
    [ticket] = body["data"]["client"]["tickets"]
    assert ticket["status"] == "CUSTOMER_REPLY"
    assert [(m["from"], m["body"], m["unverifiedSender"]) for m in ticket["messages"]] == [
        (f"Jane Support <{SUPPORT}>", "Since this morning.", False),
        ("Sam Staff", "Fixed <now> & then.", False),
        (f"Jane Support <{SUPPORT}>", "Thanks!", False),
    ]


async def test_2_3_a_support_contact_gets_the_reply_only_for_a_ticket_it_opened(
    inbound_api: httpx.AsyncClient, desk: Desk, run_worker: Any, services: Services
) -> None:
    """The holder's ticket and the SUPPORT contact's each get a reply; each opener receives
    its own acknowledgement and reply and no copy of the other's (no category copies for
    ticket emails)."""
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
    assert (
        sent
        == [
            (f"Jane Support <{SUPPORT}>", f"{contacts.json()['reference']} Contact's question"),
        ]
        * 2
        + [
            (f"Joe Bloggs <{HOLDER}>", f"{holders.json()['reference']} Holder's question"),
        ]
        * 2
    )


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
        b'{"from": "joe@example.com", "subject": "Help", "text": "Hi", "authentication": "pass"}',
        b'{"from": "joe@example.com", "subject": "Help", "text": "Hi",'
        b' "authentication": {"dmarc": true}}',
    ],
    ids=[
        "not-json",
        "not-object",
        "no-text",
        "text-not-string",
        "lone-surrogate",
        "deep",
        "authentication-not-object",
        "verdict-not-string",
    ],
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
