"""SPEC 15.1 and 15.2 in the domain: every status a ticket moves through, by staff, by the
client area and by email, with the dashboard's counters (SPEC 12.3) equal to a COUNT(*)
after each; internal notes change no status and are never exported."""

from __future__ import annotations

import asyncpg
import pytest

from domain import dashboard
from domain.automation.settings import get_automation_settings
from domain.clients import export
from domain.dashboard import Figure
from domain.errors import DomainError
from domain.tickets import services
from domain.tickets.models import Ticket, TicketStatus
from tests.domain.test_dashboard import assert_exact
from tests.domain.test_tickets import CLIENT_AREA, add_client, add_contact, add_staff, receive


async def ticket_figures(conn: asyncpg.Connection) -> tuple[int, int]:
    """The dashboard's open and awaiting-reply tickets, as the dashboard reads them."""
    settings = await get_automation_settings(conn)
    shown = await dashboard.read(conn, (Figure.OPEN_TICKETS, Figure.AWAITING_REPLY), settings)
    return shown.counts[Figure.OPEN_TICKETS], shown.counts[Figure.AWAITING_REPLY]


async def test_15_1_every_status_change_keeps_the_dashboard_counters_exact(
    conn: asyncpg.Connection,
) -> None:
    client_id = await add_client(conn, "joe@example.com")
    staff_id = await add_staff(conn)
    holder = await services.writer_of_viewer(conn, client_id, None)
    ticket = await services.open_ticket(conn, holder, "Help", "Hi", client_area_url=CLIENT_AREA)
    other = await services.open_ticket(conn, holder, "More", "Hi", client_area_url=CLIENT_AREA)
    steps: list[tuple[str, TicketStatus, tuple[int, int]]] = []

    async def step(what: str, made: Ticket) -> None:
        assert made.id == ticket.id
        await assert_exact(conn, what)
        steps.append((what, made.status, await ticket_figures(conn)))

    await step(
        "a staff reply",
        await services.reply_to_ticket(
            conn, ticket.id, "Done?", staff_id=staff_id, client_area_url=CLIENT_AREA
        ),
    )
    await step(
        "an internal note",
        await services.reply_to_ticket(
            conn,
            ticket.id,
            "Ask ops.",
            staff_id=staff_id,
            client_area_url=CLIENT_AREA,
            internal=True,
        ),
    )
    for status in (TicketStatus.ON_HOLD, TicketStatus.CLOSED):
        await step(
            f"staff setting {status}",
            await services.set_ticket_status(conn, ticket.id, status, staff_id=staff_id),
        )
    await step(
        "the client replying to the closed ticket",
        await services.reply_to_my_ticket(conn, holder, ticket.id, "Still down."),
    )
    await step("the client closing it", await services.close_my_ticket(conn, client_id, ticket.id))
    await step(
        "an emailed reply to the closed ticket",
        (await receive(conn, "joe@example.com", f"Re: {ticket.reference}", "Again")).ticket,
    )
    for status in TicketStatus:
        await step(
            f"staff setting {status}",
            await services.set_ticket_status(conn, ticket.id, status, staff_id=staff_id),
        )

    # The other ticket stays OPEN: open 1 + this one's, awaiting 1 + this one's.
    assert [(what, status, shown) for what, status, shown in steps] == [
        ("a staff reply", TicketStatus.ANSWERED, (2, 1)),
        ("an internal note", TicketStatus.ANSWERED, (2, 1)),
        ("staff setting ON_HOLD", TicketStatus.ON_HOLD, (2, 1)),
        ("staff setting CLOSED", TicketStatus.CLOSED, (1, 1)),
        ("the client replying to the closed ticket", TicketStatus.CUSTOMER_REPLY, (2, 2)),
        ("the client closing it", TicketStatus.CLOSED, (1, 1)),
        ("an emailed reply to the closed ticket", TicketStatus.CUSTOMER_REPLY, (2, 2)),
        ("staff setting OPEN", TicketStatus.OPEN, (2, 2)),
        ("staff setting ANSWERED", TicketStatus.ANSWERED, (2, 1)),
        ("staff setting CUSTOMER_REPLY", TicketStatus.CUSTOMER_REPLY, (2, 2)),
        ("staff setting ON_HOLD", TicketStatus.ON_HOLD, (2, 1)),
        ("staff setting CLOSED", TicketStatus.CLOSED, (1, 1)),
    ]
    assert other.status is TicketStatus.OPEN


async def test_15_1_a_client_reply_to_a_ticket_staff_have_not_answered_leaves_it_open(
    conn: asyncpg.Connection,
) -> None:
    client_id = await add_client(conn, "joe@example.com")
    holder = await services.writer_of_viewer(conn, client_id, None)
    ticket = await services.open_ticket(conn, holder, "Help", "Hi", client_area_url=CLIENT_AREA)

    replied = await services.reply_to_my_ticket(conn, holder, ticket.id, "And?")

    assert replied.status is TicketStatus.OPEN


async def test_15_1_staff_set_status_is_audited_with_the_status_it_had(
    conn: asyncpg.Connection,
) -> None:
    client_id = await add_client(conn, "joe@example.com")
    staff_id = await add_staff(conn)
    holder = await services.writer_of_viewer(conn, client_id, None)
    ticket = await services.open_ticket(conn, holder, "Help", "Hi", client_area_url=CLIENT_AREA)

    await services.set_ticket_status(conn, ticket.id, TicketStatus.ON_HOLD, staff_id=staff_id)

    entry = await conn.fetchrow(
        "SELECT staff_id, client_id, changes FROM audit_log WHERE action = 'ticket.status_changed'"
    )
    assert (entry["staff_id"], entry["client_id"]) == (staff_id, client_id)
    assert entry["changes"] == {"ticket_id": ticket.id, "status": "ON_HOLD", "was": "OPEN"}


async def test_15_1_an_internal_note_is_not_emailed_nor_in_the_clients_own_export(
    conn: asyncpg.Connection,
) -> None:
    client_id = await add_client(conn, "joe@example.com")
    staff_id = await add_staff(conn)
    holder = await services.writer_of_viewer(conn, client_id, None)
    ticket = await services.open_ticket(conn, holder, "Help", "Hi", client_area_url=CLIENT_AREA)
    emails_before = await conn.fetchval("SELECT count(*) FROM emails")

    noted = await services.reply_to_ticket(
        conn,
        ticket.id,
        "Secret: he never pays.",
        staff_id=staff_id,
        client_area_url=CLIENT_AREA,
        internal=True,
    )

    assert noted.status is TicketStatus.OPEN and noted.updated_at == ticket.updated_at
    assert await conn.fetchval("SELECT count(*) FROM emails") == emails_before
    assert await conn.fetchval("SELECT count(*) FROM ticket_messages WHERE internal") == 1
    mine, _ = await export.export_client_data(conn, client_id, staff_id=None, for_staff=False)
    staffs, _ = await export.export_client_data(conn, client_id, staff_id=None, for_staff=True)
    [exported] = mine["tickets"]
    assert [m["body"] for m in exported["messages"]] == ["Hi"]
    assert "Secret" not in str(mine)
    assert [m["body"] for m in staffs["tickets"][0]["messages"]] == ["Hi", "Secret: he never pays."]


async def test_15_2_only_the_holder_and_support_contacts_open_tickets_by_email(
    conn: asyncpg.Connection,
) -> None:
    client_id = await add_client(conn, "joe@example.com")
    await add_contact(conn, client_id, "support@example.com")  # ticks SUPPORT
    plain = await conn.fetchval(
        """INSERT INTO contacts (client_id, first_name, last_name, email, email_preferences)
           VALUES ($1, 'Pat', 'Plain', 'plain@example.com', '{GENERAL,INVOICE}') RETURNING id""",
        client_id,
    )

    by_holder = await receive(conn, "joe@example.com", "Help", "Hi")
    by_support = await receive(conn, "support@example.com", "Help", "Hi")
    with pytest.raises(DomainError) as refused:
        await receive(conn, "plain@example.com", "Help", "Hi")

    assert by_holder.opened and by_support.opened
    assert [(e.field, e.code) for e in refused.value.errors] == [("from", "FORBIDDEN")]
    assert await conn.fetchval("SELECT count(*) FROM tickets WHERE contact_id = $1", plain) == 0
    assert await conn.fetchval("SELECT count(*) FROM tickets") == 2


async def test_15_2_an_emailed_reply_from_the_opener_reopens_a_closed_ticket(
    conn: asyncpg.Connection,
) -> None:
    client_id = await add_client(conn, "joe@example.com")
    await add_contact(conn, client_id, "jane@example.com")
    ticket = (await receive(conn, "jane@example.com", "Help", "Hi")).ticket
    await services.close_my_ticket(conn, client_id, ticket.id)

    answered = await receive(conn, "jane@example.com", f"Re: {ticket.reference} Help", "Back")

    assert (answered.opened, answered.ticket.id) == (False, ticket.id)
    assert answered.ticket.status is TicketStatus.CUSTOMER_REPLY
