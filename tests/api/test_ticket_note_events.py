"""SPEC 15.1 over subscriptions: an internal note's event reaches staff alone, and the ticket
a client-area subscriber is shown never carries a note. One real API process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from app.settings import Settings
from domain.auth import sessions
from domain.auth.permissions import StaffRole
from domain.tickets import services as tickets
from tests.api.sockets import ApiProcess, api_processes, subscribed
from tests.api.test_subscriptions import last_event
from tests.api.test_tickets import TTL, add_client, staff_session
from tests.domain.test_tickets import CLIENT_AREA

EVENTS = """subscription($after: ID) {
  ticketEvents(after: $after) { id ticket { messages { body } } }
}"""


@pytest.fixture(scope="module")
def api(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    cwd = tmp_path_factory.mktemp("api")
    with api_processes(1, settings.database_url, settings.redis_url, Path(cwd)) as (started,):
        yield started


async def test_15_1_an_internal_notes_event_reaches_staff_only(
    api: ApiProcess, conn: asyncpg.Connection
) -> None:
    client = await add_client(conn, "joe@example.com")
    holder_token = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    staff_token = await staff_session(conn, StaffRole.SUPPORT)
    staff_id = await conn.fetchval("SELECT id FROM staff")
    writer = await tickets.writer_of_viewer(conn, client.id, None)
    ticket = await tickets.open_ticket(conn, writer, "Help", "Hi", client_area_url=CLIENT_AREA)
    after = {"after": await last_event(conn)}

    async with (
        subscribed(api.ws_url, EVENTS, after, token=holder_token) as holder,
        subscribed(api.ws_url, EVENTS, after, token=staff_token) as staff,
    ):
        for message, internal in (("Owes us.", True), ("Fixed.", False)):
            await tickets.reply_to_ticket(
                conn,
                ticket.id,
                message,
                staff_id=staff_id,
                client_area_url=CLIENT_AREA,
                internal=internal,
            )
        events = await conn.fetch(
            "SELECT id, staff_only FROM events WHERE id > $1 AND topic = 'TICKET' ORDER BY id",
            int(after["after"]),
        )
        assert [e["staff_only"] for e in events] == [True, False, False]
        to_staff = [await staff.next_event() for _ in events]
        to_holder = [await holder.next_event() for _ in events[1:]]

    assert [e["id"] for e in to_staff] == [str(e["id"]) for e in events]
    assert [e["id"] for e in to_holder] == [str(e["id"]) for e in events[1:]]
    assert {tuple(m["body"] for m in e["ticket"]["messages"]) for e in to_holder} == {
        ("Hi", "Fixed.")
    }
    assert to_staff[-1]["ticket"]["messages"] == [
        {"body": "Hi"},
        {"body": "Owes us."},
        {"body": "Fixed."},
    ]
