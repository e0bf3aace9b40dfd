"""Who receives which events of every subscription (issue 20), generated like the query
matrix (tests/api/test_authz_matrix.py) and from its viewer kinds.

Each subscription reads what its matching query reads, with the same permissions: staff
holding the permission receive every client's events (ALL), the client area its own
client's only (OWN) and only with the permission that reads them, anyone else is refused.
One API process; per subscription, one socket per viewer kind, and the same changes (two of
the viewers' own client and two of another client's, interleaved) seen by all of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from app.settings import Settings
from domain.auth.permissions import ContactPermission, StaffPermission
from domain.billing import orders
from domain.billing.models import ItemKind
from domain.tickets import services as tickets
from tests.api.introspection import type_fields
from tests.api.sockets import ApiProcess, Closed, Subscriber, api_processes, open_socket, start
from tests.api.test_authz_matrix import (
    ALLOWED,
    ANONYMOUS,
    FORBIDDEN,
    HOLDER,
    UNAUTHENTICATED,
    As,
    World,
    client_area,
    session_of,
    staff,
    sub_account,
)
from tests.api.test_subscriptions import last_event
from tests.conftest import add_client

ALL, OWN = "ALL", "OWN"
Change = Callable[[asyncpg.Connection, int | None], Awaitable[None]]


async def _place_invoice(conn: asyncpg.Connection, client_id: int) -> None:
    await orders.place_order(
        conn,
        client_id,
        items=[{"kind": ItemKind.SERVICE, "name": "Hosting", "amount": "10.00"}],
        payment_method="banktransfer",
        staff_id=None,
    )


async def _open_ticket(conn: asyncpg.Connection, client_id: int) -> None:
    writer = await tickets.writer_of_viewer(conn, client_id, None)
    await tickets.open_ticket(
        conn, writer, "Help", "It is down.", client_area_url="http://127.0.0.1:8000"
    )


async def _queue_email(conn: asyncpg.Connection, client_id: int) -> None:
    await conn.execute(
        """INSERT INTO emails (client_id, template, category, to_address)
           VALUES ($1, 'client_signup', 'ACCOUNT', 'someone@example.com')""",
        client_id,
    )


def _update(statement: str) -> Change:
    """A change of a client's object (`$1`: the client's id); None for a run."""

    async def change(conn: asyncpg.Connection, client_id: int | None) -> None:
        await conn.execute(statement, *([] if client_id is None else [client_id]))

    return change


@dataclass(frozen=True)
class Feed:
    """A subscription: its matching query's permissions (client area None: any login of the
    client; `staff_only`: none), the object each client has before it (`prepare`), and a
    change that records one event of its topic."""

    staff_permission: StaffPermission
    client_permission: ContactPermission | None
    change: Change
    prepare: Callable[[asyncpg.Connection, int], Awaitable[None]] | None = None
    staff_only: bool = False


VIEW = StaffPermission.VIEW_CLIENTS
# Matching queries: `client` / `me { client }`; `invoice` / `Client.invoices`;
# `Client.tickets`; `Client.emails`; `automationRuns`.
FEEDS = {
    "clientEvents": Feed(
        VIEW, None, _update("UPDATE clients SET notes = COALESCE(notes, '') || 'x' WHERE id = $1")
    ),
    "invoiceEvents": Feed(
        VIEW,
        ContactPermission.INVOICES,
        _update("UPDATE invoices SET due_date = due_date + 1 WHERE client_id = $1"),
        _place_invoice,
    ),
    "ticketEvents": Feed(
        VIEW,
        ContactPermission.TICKETS,
        _update("UPDATE tickets SET subject = subject || '!' WHERE client_id = $1"),
        _open_ticket,
    ),
    "emailEvents": Feed(
        StaffPermission.VIEW_EMAILS,
        ContactPermission.EMAILS,
        _update("UPDATE emails SET attempts = attempts + 1 WHERE client_id = $1"),
        _queue_email,
    ),
    "automationRunEvents": Feed(
        StaffPermission.MANAGE_SETTINGS,
        None,
        _update(
            "INSERT INTO automation_runs (as_of) "
            "SELECT COALESCE(max(as_of), current_date) + 1 FROM automation_runs"
        ),
        staff_only=True,
    ),
}


def outcomes(feed: Feed) -> dict[As, str]:
    """What each viewer kind gets: the query matrix's staff cases (ALLOWED: every client's
    events), and its client-area cases (ALLOWED: its own client's)."""
    found = {
        viewer: ALL if outcome == ALLOWED else outcome
        for viewer, outcome in staff(feed.staff_permission, "").outcomes.items()
    }
    if not feed.staff_only:
        area = client_area(feed.client_permission, "").outcomes
        found[sub_account(ContactPermission)] = OWN
        found.update(
            {
                viewer: OWN if outcome == ALLOWED else outcome
                for viewer, outcome in area.items()
                if viewer.kind in ("holder", "sub_account")
            }
        )
    return found


def test_every_subscription_has_an_access_rule() -> None:
    assert set(FEEDS) == type_fields("Subscription")


@pytest.fixture(scope="module")
def api(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    cwd = tmp_path_factory.mktemp("api")
    with api_processes(1, settings.database_url, settings.redis_url, Path(cwd)) as (started,):
        yield started


async def subscriber_of(
    api: ApiProcess, token: str | None, name: str, after: str
) -> Subscriber | Closed:
    """A socket subscribed to `name`, or how it was refused at connection_init."""
    try:
        subscriber = await open_socket(api.ws_url, token=token)
    except Closed as refused:
        return refused
    selection = "" if name == "automationRunEvents" else " clientId"
    await start(subscriber, f"subscription {{ {name}(after: {after}) {{ id{selection} }} }}")
    return subscriber


async def refusal(subscriber: Subscriber | Closed) -> str:
    """The code a refused subscriber was given."""
    if isinstance(subscriber, Closed):
        return UNAUTHENTICATED if subscriber.code == 4403 else f"closed {subscriber.code}"
    message = await subscriber.receive()
    payload = message["payload"]
    errors = payload if message["type"] == "error" else payload.get("errors") or []
    codes = {str(error["extensions"]["code"]) for error in errors}
    return "+".join(sorted(codes)) or f"received {payload}"


@pytest.mark.parametrize("name", FEEDS)
async def test_each_viewer_receives_exactly_the_events_its_query_would_read(
    api: ApiProcess, conn: asyncpg.Connection, name: str
) -> None:
    feed = FEEDS[name]
    own = await add_client(conn, first_name="Own", email="own@example.com")
    other = await add_client(conn, first_name="Other", email="other@example.com")
    for client in (own, other):
        if feed.prepare is not None:
            await feed.prepare(conn, client.id)
    world = World(own.id, 0, own.owner_login_id, {}, other.owner_login_id)
    expected = outcomes(feed)
    tokens = {
        viewer: await session_of(conn, world, viewer, tag=str(n))
        for n, viewer in enumerate(expected)
    }
    after = f'"{await last_event(conn)}"'
    subscribers = {
        viewer: await subscriber_of(api, token, name, after) for viewer, token in tokens.items()
    }
    try:
        # Interleaved, ending with the own client's: each allowed subscriber's last event.
        for client in (other, own, other, own):
            await feed.change(conn, None if feed.staff_only else client.id)
        events = await conn.fetch(
            "SELECT id, client_id FROM events WHERE id > $1 ORDER BY id", int(after.strip('"'))
        )
        assert len(events) == 4
        for viewer, subscriber in subscribers.items():
            if expected[viewer] in (ALL, OWN):
                assert isinstance(subscriber, Subscriber), (str(viewer), subscriber)
                wanted = [
                    str(e["id"])
                    for e in events
                    if expected[viewer] == ALL or e["client_id"] == own.id
                ]
                received = [(await subscriber.next_event())["id"] for _ in wanted]
                assert received == wanted, str(viewer)
            else:
                assert await refusal(subscriber) == expected[viewer], str(viewer)
    finally:
        for subscriber in subscribers.values():
            if isinstance(subscriber, Subscriber):
                await subscriber.socket.close()


def test_the_matrix_covers_anonymous_the_holder_sub_accounts_staff_and_keys() -> None:
    kinds = {viewer.kind for feed in FEEDS.values() for viewer in outcomes(feed)}
    assert kinds == {"anonymous", "holder", "sub_account", "staff", "api_key"}
    assert outcomes(FEEDS["automationRunEvents"])[HOLDER] == FORBIDDEN
    assert outcomes(FEEDS["clientEvents"])[ANONYMOUS] == UNAUTHENTICATED
