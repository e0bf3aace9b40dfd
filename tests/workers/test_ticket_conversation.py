"""Issue 23's acceptance, end to end through the API, a real worker and a real SMTP server
(SPEC 15.1, 15.2, 15.3): a German-speaking client writes by email, is acknowledged in German,
staff answer from the API and the client receives the German reply, the client answers in
the client area, staff close the ticket. And a department's tickets are emailed from its
address."""

from __future__ import annotations

from email.message import Message
from typing import Any

import asyncpg
import httpx

from app.settings import Settings
from domain.auth import sessions
from domain.auth.permissions import StaffRole
from domain.tickets import departments
from tests.api.inbound import AUTHENTICATED, inbound_client, post_email
from tests.api.test_ticket_conversations import OPEN_IN, REPLY, REPLY_MINE, SET_STATUS
from tests.api.test_tickets import TTL, add_client, payload, staff_session
from tests.conftest import Services, gid

CLIENT = "klaus@example.com"


def text_of(message: Message) -> str:
    [text] = [
        part.get_payload(decode=True).decode()
        for part in message.walk()
        if part.get_content_type() == "text/plain"
    ]
    return " ".join(text.split())


async def test_15_a_german_clients_ticket_by_email_through_replies_to_closing(
    conn: asyncpg.Connection, settings: Settings, run_worker: Any, services: Services
) -> None:
    client = await add_client(conn, CLIENT)
    await conn.execute("UPDATE clients SET language = 'de' WHERE id = $1", client.id)
    holder_token = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    staff_token = await staff_session(conn, StaffRole.SUPPORT)

    async with inbound_client(settings) as api:
        opened = await post_email(
            api,
            f"Klaus Kunde <{CLIENT}>",
            "Server down",
            "Seit heute früh.",
            authentication=AUTHENTICATED,
        )
        assert opened.status_code == 201, opened.text
        ticket_id, reference = opened.json()["ticket"], opened.json()["reference"]
        await run_worker()
        [acknowledgement] = services.mail.messages

        replied = await payload(
            api, REPLY, staff_token, ticketId=ticket_id, message="Der Server läuft wieder."
        )
        assert replied["ticket"]["status"] == "ANSWERED", replied
        await run_worker()
        [_, reply] = services.mail.messages

        answered = await payload(
            api, REPLY_MINE, holder_token, ticketId=ticket_id, message="Danke, alles gut."
        )
        closed = await payload(api, SET_STATUS, staff_token, id=ticket_id, status="CLOSED")
        await run_worker()

    for message in (acknowledgement, reply):
        assert message["To"] == f"Joe Bloggs <{CLIENT}>"
        assert message["Subject"] == f"{reference} Server down"
    assert "Guten Tag Joe" in text_of(acknowledgement)
    assert "wurde eröffnet" in text_of(acknowledgement)
    assert f"lassen Sie {reference} im Betreff stehen" in text_of(acknowledgement)
    assert "hat auf Ihr Support-Ticket Nr." in text_of(reply)
    assert "Der Server läuft wieder." in text_of(reply)
    assert answered["ticket"]["status"] == "CUSTOMER_REPLY"
    assert closed["ticket"]["status"] == "CLOSED"
    # The client's own reply and the closing email nobody.
    assert len(services.mail.messages) == 2
    messages = await conn.fetch("SELECT body FROM ticket_messages ORDER BY id")
    assert [m["body"] for m in messages] == [
        "Seit heute früh.",
        "Der Server läuft wieder.",
        "Danke, alles gut.",
    ]


async def test_15_1_a_departments_ticket_is_emailed_from_its_address(
    conn: asyncpg.Connection,
    api: httpx.AsyncClient,
    run_worker: Any,
    services: Services,
    settings: Settings,
) -> None:
    client = await add_client(conn, CLIENT)
    holder_token = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    sales = await departments.save_department(
        conn, None, "Sales", "sales@example.com", staff_id=None
    )
    opened = await payload(
        api,
        OPEN_IN,
        holder_token,
        subject="Prices",
        message="How much?",
        departmentId=gid("TicketDepartment", sales.id),
    )
    assert opened["ticket"]["department"] == {"name": "Sales"}
    await run_worker()

    [message] = services.mail.messages
    assert message["From"] == "Sales <sales@example.com>"
    assert message["Subject"] == f"{opened['ticket']['reference']} Prices"
    assert settings.mail_from != message["From"]
