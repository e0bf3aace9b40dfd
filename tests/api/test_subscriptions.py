"""Subscriptions against real API processes (uvicorn): a change made through one process
reaches subscribers of both, and survives the death of the process that made it; a
rolled-back change sends nothing; a client-area subscriber sees its own client's events only;
a logout closes the socket."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.settings import Settings
from domain.auth import api_keys, sessions
from tests.api.sockets import (
    LEGACY_WS,
    TRANSPORT_WS,
    ApiProcess,
    Closed,
    api_processes,
    open_socket,
    start,
    subscribed,
)
from tests.api.test_serving import admin_session
from tests.conftest import add_client, gid

CLIENT_EVENTS = """subscription($after: ID) {
  clientEvents(after: $after) { id kind clientId client { firstName } }
}"""
ADD_ADA = """mutation {
  addClient(input: {firstName: "Ada", lastName: "L", email: "ada@example.com"}) {
    errors { code }
  }
}"""
TOUCH = "UPDATE clients SET notes = COALESCE(notes, '') || 'x' WHERE id = $1"


@pytest.fixture(scope="module")
def apis(
    settings: Settings, pool: asyncpg.Pool, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ApiProcess]]:
    cwd = tmp_path_factory.mktemp("apis")
    with api_processes(
        2, settings.database_url, settings.redis_url, Path(cwd), SOCKET_RECHECK_SECONDS="1"
    ) as started:
        yield started


async def last_event(conn: asyncpg.Connection) -> str:
    return str(await conn.fetchval("SELECT COALESCE(max(id), 0) FROM events"))


async def test_a_change_through_one_process_reaches_subscribers_of_both(
    apis: list[ApiProcess], conn: asyncpg.Connection
) -> None:
    token = await admin_session(conn)
    after = {"after": await last_event(conn)}
    async with (
        subscribed(apis[0].ws_url, CLIENT_EVENTS, after, token=token) as first,
        subscribed(apis[1].ws_url, CLIENT_EVENTS, after, token=token, protocol=LEGACY_WS) as second,
    ):
        async with httpx.AsyncClient(base_url=apis[0].url) as http:
            response = await http.post(
                "/graphql",
                json={"query": ADD_ADA},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.json()["data"]["addClient"]["errors"] == []
        for subscriber in (first, second):
            event = await subscriber.next_event()
            assert (event["kind"], event["client"]["firstName"]) == ("CREATED", "Ada")


async def test_a_rolled_back_change_sends_no_event(
    apis: list[ApiProcess], conn: asyncpg.Connection
) -> None:
    token = await admin_session(conn)
    async with subscribed(
        apis[1].ws_url, CLIENT_EVENTS, {"after": await last_event(conn)}, token=token
    ) as subscriber:
        transaction = conn.transaction()
        await transaction.start()
        await add_client(conn, first_name="Gone", email="gone@example.com")
        await transaction.rollback()
        await add_client(conn, first_name="Kept", email="kept@example.com")
        event = await subscriber.next_event()
        assert event["client"]["firstName"] == "Kept"


async def test_killing_the_process_right_after_a_commit_still_delivers_the_event(
    apis: list[ApiProcess], settings: Settings, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    token = await admin_session(conn)
    # The module's processes live on; one of its own dies.
    living = apis[0]
    with api_processes(1, settings.database_url, settings.redis_url, tmp_path) as (dying,):
        seen = await last_event(conn)
        async with subscribed(
            living.ws_url, CLIENT_EVENTS, {"after": seen}, token=token
        ) as subscriber:
            async with httpx.AsyncClient(base_url=dying.url) as http:
                await http.post(
                    "/graphql",
                    json={"query": ADD_ADA},
                    headers={"Authorization": f"Bearer {token}"},
                )
            dying.kill()
            assert (await subscriber.next_event())["client"]["firstName"] == "Ada"
        # A subscriber of the dead process reconnects elsewhere with the last id it saw.
        async with subscribed(living.ws_url, CLIENT_EVENTS, {"after": seen}, token=token) as again:
            assert (await again.next_event())["client"]["firstName"] == "Ada"


async def test_a_client_area_subscriber_receives_its_own_clients_events_only(
    apis: list[ApiProcess], conn: asyncpg.Connection
) -> None:
    mine = await add_client(conn, first_name="Mine", email="mine@example.com")
    other = await add_client(conn, first_name="Other", email="other@example.com")
    token = await sessions.start_session(conn, mine.owner_login_id, ttl=timedelta(hours=1))
    async with subscribed(
        apis[0].ws_url, CLIENT_EVENTS, {"after": await last_event(conn)}, token=token
    ) as subscriber:
        for client in (other, mine, other, mine):
            await conn.execute(
                "UPDATE clients SET notes = COALESCE(notes, '') || 'x' WHERE id = $1", client.id
            )
        for _ in range(2):
            event = await subscriber.next_event()
            assert event["clientId"] == gid("Client", mine.id)


async def test_a_logout_closes_the_socket(apis: list[ApiProcess], conn: asyncpg.Connection) -> None:
    token = await admin_session(conn)
    subscriber = await open_socket(apis[0].ws_url, token=token)
    await start(subscriber, CLIENT_EVENTS)
    await conn.execute("DELETE FROM sessions")
    closed = await subscriber.closed()
    assert closed.code == 4403


async def test_an_anonymous_socket_is_refused(apis: list[ApiProcess]) -> None:
    with pytest.raises(Closed) as refused:
        await open_socket(apis[0].ws_url)
    assert refused.value.code == 4403


async def test_an_api_key_subscribes_and_its_revocation_closes_the_socket(
    apis: list[ApiProcess], conn: asyncpg.Connection
) -> None:
    await admin_session(conn)
    made = api_keys.new_secret()
    await conn.execute(
        """INSERT INTO api_keys (name, prefix, secret_hash, staff_id, role_id)
           SELECT 'Dashboard', $1, $2, s.id, r.id FROM staff s, staff_roles r
            WHERE r.name = 'READ_ONLY'""",
        made.prefix,
        made.secret_hash,
    )
    after = {"after": await last_event(conn)}
    async with subscribed(apis[1].ws_url, CLIENT_EVENTS, after, token=made.secret) as subscriber:
        await add_client(conn, first_name="Seen", email="seen@example.com")
        assert (await subscriber.next_event())["client"]["firstName"] == "Seen"
        await conn.execute("UPDATE api_keys SET revoked_at = now()")
        assert (await subscriber.closed()).code == 4403


async def test_socket_messages_are_text_frames(
    apis: list[ApiProcess], conn: asyncpg.Connection
) -> None:
    """Both protocols send JSON as text: a browser's client (GraphiQL's graphql-ws) cannot
    parse a binary frame."""
    token = await admin_session(conn)
    for protocol in (TRANSPORT_WS, LEGACY_WS):
        subscriber = await open_socket(apis[0].ws_url, token=token, protocol=protocol)
        try:
            await start(subscriber, CLIENT_EVENTS, {"after": "0"})
            await add_client(conn, first_name="Text", email=f"text-{protocol}@example.com")
            frame = await subscriber.socket.recv()
            assert isinstance(frame, str), protocol
        finally:
            await subscriber.socket.close()
