"""A subscription's bounds, against a real API process: a subscriber that stops reading is
disconnected (its queue is bounded) while the others keep receiving every event."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from app.settings import Settings
from tests.api.sockets import ApiProcess, Closed, api_processes, open_socket, start, subscribed
from tests.api.test_serving import admin_session
from tests.api.test_subscriptions import TOUCH, last_event
from tests.conftest import add_client

# A statement's events the slow subscriber may have waiting before it is closed.
QUEUE_SIZE = 2
# Large events (the client's notes) and a tiny receive buffer, so that the slow
# subscriber's TCP buffers fill after a few events and its queue then overflows.
NOTES_BYTES = 400_000
CHANGES = 40


@pytest.fixture(scope="module")
def api(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    cwd = tmp_path_factory.mktemp("api")
    with api_processes(
        1,
        settings.database_url,
        settings.redis_url,
        Path(cwd),
        SUBSCRIPTION_QUEUE_SIZE=str(QUEUE_SIZE),
    ) as (started,):
        yield started


def small_buffer_socket(port: int) -> socket.socket:
    """A connected TCP socket whose receive buffer is fixed small (no autotuning)."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))
    raw.setblocking(False)
    return raw


async def test_a_slow_consumer_is_disconnected_while_the_others_keep_up(
    api: ApiProcess, conn: asyncpg.Connection
) -> None:
    token = await admin_session(conn)
    client = await add_client(conn, first_name="Big", email="big@example.com")
    await conn.execute("UPDATE clients SET notes = $2 WHERE id = $1", client.id, "n" * NOTES_BYTES)
    after = {"after": await last_event(conn)}
    # It reads each event's whole client, and after the acknowledgement never reads again
    # (max_queue=1: its library stops reading the socket too). Without compression: deflated,
    # the notes are a few hundred bytes, the buffers never fill, and the queue overflows only
    # when the server is slower than the changes (CI saw all 40 delivered).
    slow = await open_socket(
        api.ws_url,
        token=token,
        sock=small_buffer_socket(api.port),
        max_queue=1,
        max_size=None,
        compression=None,
    )
    await start(
        slow,
        "subscription($after: ID) { clientEvents(after: $after) { id client { notes } } }",
        after,
    )
    try:
        async with subscribed(
            api.ws_url,
            "subscription($after: ID) { clientEvents(after: $after) { id } }",
            after,
            token=token,
        ) as fast:
            # Each change read by the fast one before the next: a queue of two events is
            # all it gets too, and a loaded machine may hold its sender back for a moment.
            received = []
            for _ in range(CHANGES):
                await conn.execute(TOUCH, client.id)
                received.append((await fast.next_event())["id"])
            ids = await conn.fetch(
                "SELECT id FROM events WHERE id > $1 AND topic = 'CLIENT' ORDER BY id",
                int(after["after"]),
            )
            assert received == [str(row["id"]) for row in ids]
        # Reading again, it finds what had been sent before it fell behind, then the close.
        delivered = 0
        with pytest.raises(Closed) as closed:
            while True:
                await slow.next_event()
                delivered += 1
        assert closed.value.code == 1008
        assert delivered < len(ids)
    finally:
        await slow.socket.close()


def nested(depth: int) -> str:
    return "{ a " * depth + "}" * depth


# Over each limit of app/query_limits.py (depth 12, 30 aliases, 2,000 fields by default); the
# limits are checked before validation, so the fields need not exist.
OVER_LIMITS = {
    "depth": f"subscription {{ clientEvents {nested(13)} }}",
    "aliases": "subscription { clientEvents { " + " ".join(f"a{n}: id" for n in range(31)) + " } }",
    "fields": "fragment F on ClientEvent { "
    + "id " * 100
    + "} subscription { clientEvents { "
    + "...F " * 21
    + "} }",
}


@pytest.mark.parametrize("limit", OVER_LIMITS)
async def test_a_subscription_over_the_query_limits_is_refused(
    api: ApiProcess, conn: asyncpg.Connection, limit: str
) -> None:
    subscriber = await open_socket(api.ws_url, token=await admin_session(conn))
    try:
        await start(subscriber, OVER_LIMITS[limit])
        message = await subscriber.receive()
        assert message["type"] == "error", message
        assert [error["extensions"]["code"] for error in message["payload"]] == [
            "QUERY_LIMIT_EXCEEDED"
        ]
    finally:
        await subscriber.socket.close()
