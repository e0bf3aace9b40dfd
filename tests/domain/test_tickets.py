"""SPEC 2.3: support tickets in the domain: who an inbound email is from, which ticket it
joins, the status each message leads to, and who a staff reply is emailed to."""

from __future__ import annotations

import asyncpg
import pytest

from domain.clients import services as client_services
from domain.errors import DomainError
from domain.tickets import inbound, services
from domain.tickets.inbound import SenderAuthentication
from domain.tickets.models import Opener, TicketStatus
from domain.validation import InputCheck, normalize_email

CLIENT_AREA = "https://clients.example.com"


async def add_client(conn: asyncpg.Connection, email: str) -> int:
    client = await client_services.add_client(
        conn,
        {"first_name": "Joe", "last_name": "Bloggs", "email": email},
        password=None,
        staff_id=None,
        send_welcome_email=False,
        client_area_url=CLIENT_AREA,
    )
    return client.id


async def add_contact(conn: asyncpg.Connection, client_id: int, email: str) -> int:
    contact_id: int = await conn.fetchval(
        """INSERT INTO contacts (client_id, first_name, last_name, email, email_preferences)
           VALUES ($1, 'Jane', 'Doe', $2, '{SUPPORT}') RETURNING id""",
        client_id,
        email,
    )
    return contact_id


async def add_staff(conn: asyncpg.Connection) -> int:
    login_id = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ('sam@staff.example.com') RETURNING id"
    )
    staff_id: int = await conn.fetchval(
        "INSERT INTO staff (login_id, first_name, last_name, role) "
        "VALUES ($1, 'Sam', 'Staff', 'SUPPORT') RETURNING id",
        login_id,
    )
    return staff_id


async def receive(
    conn: asyncpg.Connection, sender: str, subject: str, text: str
) -> inbound.Received:
    """An inbound email whose sender the relay authenticated."""
    return await inbound.receive_email(
        conn,
        sender,
        subject,
        text,
        authentication={"dmarc": "pass"},
        require_authentication=False,
        client_area_url=CLIENT_AREA,
    )


async def reply(conn: asyncpg.Connection, ticket_id: int, staff_id: int) -> None:
    await services.reply_to_ticket(
        conn, ticket_id, "Done.", staff_id=staff_id, client_area_url=CLIENT_AREA
    )


async def test_2_3_the_clients_own_address_wins_over_a_contact_with_the_same_address(
    conn: asyncpg.Connection,
) -> None:
    holder = await add_client(conn, "joe@example.com")
    other = await add_client(conn, "other@example.com")
    await add_contact(conn, other, "joe@example.com")

    writer = await inbound.sender_of(conn, "JOE@Example.com")

    assert (writer.client_id, writer.contact_id) == (holder, None)


async def test_2_3_an_address_that_contacts_of_several_clients_share_is_refused(
    conn: asyncpg.Connection,
) -> None:
    for email in ("a@example.com", "b@example.com"):
        await add_contact(conn, await add_client(conn, email), "shared@example.com")

    with pytest.raises(DomainError) as refused:
        await receive(conn, "shared@example.com", "Help", "Hi")

    assert [(e.field, e.code) for e in refused.value.errors] == [("from", "CONFLICT")]
    assert await conn.fetchval("SELECT count(*) FROM tickets") == 0


async def test_15_2_a_reply_by_email_to_another_clients_ticket_is_refused(
    conn: asyncpg.Connection,
) -> None:
    await add_client(conn, "joe@example.com")
    theirs = await add_client(conn, "other@example.com")
    their_ticket = (await receive(conn, "other@example.com", "Theirs", "x")).ticket

    with pytest.raises(DomainError) as refused:
        await receive(conn, "joe@example.com", f"Re: {their_ticket.reference}", "Let me in")

    assert [(e.field, e.code) for e in refused.value.errors] == [("subject", "FORBIDDEN")]
    assert await conn.fetchval("SELECT count(*) FROM ticket_messages") == 1
    assert await conn.fetchval("SELECT count(*) FROM tickets") == 1
    assert their_ticket.client_id == theirs


async def test_2_3_statuses_follow_whose_turn_it_is(conn: asyncpg.Connection) -> None:
    await add_client(conn, "joe@example.com")
    staff_id = await add_staff(conn)
    ticket = (await receive(conn, "joe@example.com", "Help", "Hi")).ticket
    assert ticket.status is TicketStatus.OPEN
    follow_up = await receive(conn, "joe@example.com", ticket.reference, "And?")
    assert follow_up.ticket.status is TicketStatus.OPEN  # still waiting for a first answer

    await reply(conn, ticket.id, staff_id)
    answered = await receive(
        conn, "joe@example.com", f"RE: {ticket.reference.lower()} Help", "Thanks"
    )

    assert answered.ticket.status is TicketStatus.CUSTOMER_REPLY
    assert not answered.opened


async def test_2_3_a_reply_goes_to_the_holder_once_the_opening_contact_is_deleted(
    conn: asyncpg.Connection,
) -> None:
    client_id = await add_client(conn, "joe@example.com")
    contact_id = await add_contact(conn, client_id, "jane@example.com")
    staff_id = await add_staff(conn)
    ticket = (await receive(conn, "jane@example.com", "Help", "Hi")).ticket
    assert (ticket.opened_by, ticket.contact_id) == (Opener.CONTACT, contact_id)
    await reply(conn, ticket.id, staff_id)
    await conn.execute("DELETE FROM contacts WHERE id = $1", contact_id)
    await reply(conn, ticket.id, staff_id)

    sent_to = await conn.fetch(
        "SELECT to_address FROM emails WHERE template = 'support_ticket_reply' ORDER BY id"
    )

    assert [r["to_address"] for r in sent_to] == ["jane@example.com", "joe@example.com"]


@pytest.mark.parametrize(
    "sender",
    [
        "not an address",
        "<>",
        "joe\x00@example.com",
        "j" * 250 + "@example.com",
        # Headers on which the stdlib parser raises rather than records a defect.
        ".:",
        '"',
        " .,",
        "a<@[ ",
        "(" * 900 + "joe@example.com",
    ],
)
async def test_2_3_an_inbound_email_without_a_usable_sender_address_is_refused(
    conn: asyncpg.Connection, sender: str
) -> None:
    await add_client(conn, "joe@example.com")

    with pytest.raises(DomainError) as refused:
        await receive(conn, sender, "Help", "Hi")

    assert [(e.field, e.code) for e in refused.value.errors] == [("from", "INVALID")]


async def test_15_2_an_answer_joins_a_ticket_only_with_its_token_from_a_sender_allowed_on_it(
    conn: asyncpg.Connection,
) -> None:
    """A contact's ticket takes answers from that contact and from the account holder, with
    the reply token; with a wrong token, or from another contact or client, the email is
    refused alike (nothing stored); the bare number is no reference: a new ticket opens."""
    client_id = await add_client(conn, "joe@example.com")
    await add_contact(conn, client_id, "jane@example.com")
    await add_contact(conn, client_id, "other-contact@example.com")
    await add_client(conn, "other@example.com")
    ticket = (await receive(conn, "jane@example.com", "Help", "Hi")).ticket
    wrong_token = f"[Ticket #{ticket.id}-{int(ticket.reply_token, 16) ^ 1:016x}]"

    for sender, subject in [
        ("jane@example.com", wrong_token),
        ("other-contact@example.com", ticket.reference),
        ("other@example.com", ticket.reference),
    ]:
        with pytest.raises(DomainError) as refused:
            await receive(conn, sender, f"Re: {subject} Help", "Let me in")
        assert [(e.field, e.code) for e in refused.value.errors] == [("subject", "FORBIDDEN")]
    bare = await receive(conn, "jane@example.com", f"Re: [Ticket #{ticket.id}] Help", "New")
    joined = [
        await receive(conn, sender, f"Re: {ticket.reference.upper()} Help", "Me too")
        for sender in ("jane@example.com", "joe@example.com")
    ]

    assert bare.opened and bare.ticket.id != ticket.id
    assert [(r.opened, r.ticket.id) for r in joined] == [(False, ticket.id)] * 2
    assert (
        await conn.fetchval("SELECT count(*) FROM ticket_messages WHERE ticket_id = $1", ticket.id)
        == 3
    )


async def test_2_3_every_ticket_gets_a_reply_token_of_its_own(conn: asyncpg.Connection) -> None:
    await add_client(conn, "joe@example.com")

    tickets = [(await receive(conn, "joe@example.com", "Help", str(n))).ticket for n in range(20)]

    assert len({t.reply_token for t in tickets}) == 20
    assert all(t.reference == f"[Ticket #{t.id}-{t.reply_token}]" for t in tickets)


@pytest.mark.parametrize(
    "sender",
    [
        "joe@example.com",
        "Joe Bloggs <JOE@Example.com>",
        '"Bloggs, Joe" <joe@example.com>',
        "joe@example.com (Joe Bloggs)",
        "=?utf-8?q?J=C3=B6e?= <joe@example.com>",
        " joe@EXAMPLE.COM ",
    ],
)
def test_2_3_a_from_of_one_address_is_read_whatever_its_display_name(sender: str) -> None:
    check = InputCheck()

    address = inbound.sender_address(check, sender)

    assert check.errors == []
    assert normalize_email(address) == "joe@example.com"


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        (None, SenderAuthentication.UNVERIFIED),
        ({"dmarc": "pass"}, SenderAuthentication.PASSED),
        ({"DMARC": " Pass ", "spf": "fail", "dkim": "fail"}, SenderAuthentication.PASSED),
        ({"dmarc": "fail", "spf": "pass", "dkim": "pass"}, SenderAuthentication.FAILED),
        ({"spf": "fail"}, SenderAuthentication.FAILED),
        ({"spf": "fail", "dkim": "none", "dmarc": "none"}, SenderAuthentication.FAILED),
        ({"spf": "fail", "dkim": "pass"}, SenderAuthentication.UNVERIFIED),
        ({"spf": "softfail"}, SenderAuthentication.UNVERIFIED),
        ({"spf": "pass", "dkim": "pass"}, SenderAuthentication.UNVERIFIED),
        ({"dmarc": "permerror"}, SenderAuthentication.UNVERIFIED),
        ({"arc": "fail"}, SenderAuthentication.UNVERIFIED),
    ],
)
def test_2_3_only_dmarc_authenticates_a_sender_and_a_failed_check_refutes_one(
    verdicts: dict[str, str] | None, expected: SenderAuthentication
) -> None:
    assert inbound.authentication_of(verdicts) is expected
