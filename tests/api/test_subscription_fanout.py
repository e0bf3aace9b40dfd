"""SPEC 12.1 when one event reaches many sockets of a process: what they are shown is made
once per event and visibility (resolvers/fanout.py), and each socket still receives the
event only as its viewer may read it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from graphql import ExecutionResult, OperationDefinitionNode, parse

from app.settings import Settings
from domain.auth.permissions import ContactPermission, StaffRole
from domain.events.hub import EventHub
from domain.events.store import Event, EventKind, Topic
from resolvers.fanout import Fanout
from tests.api.sockets import ApiProcess, Subscriber, api_processes, open_socket, start
from tests.api.test_authz_matrix import HOLDER, As, World, session_of, staff_member, sub_account
from tests.api.test_subscriptions import TOUCH, last_event
from tests.conftest import add_client

NAMES = """subscription($after: ID) {
  clientEvents(after: $after) { id client { id firstName } }
}"""


@pytest.fixture(scope="module")
def api(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    cwd = tmp_path_factory.mktemp("api")
    with api_processes(1, settings.database_url, settings.redis_url, Path(cwd)) as (started,):
        yield started


async def test_12_1_sockets_sharing_an_event_are_each_shown_its_object_as_they_may_read_it(
    api: ApiProcess, conn: asyncpg.Connection
) -> None:
    own = await add_client(conn, first_name="Own", email="own@example.com")
    world = World(own.id, 0, own.owner_login_id, {}, other_login=0)  # no other client here
    # Who may read the client's name: staff, the holder, a sub-account granted PROFILE; a
    # sub-account granted INVOICES only reaches the client without it.
    viewers: dict[As, bool] = {
        staff_member(StaffRole.READ_ONLY): True,
        HOLDER: True,
        sub_account({ContactPermission.INVOICES}): False,
        sub_account({ContactPermission.PROFILE}): True,
    }
    after = await last_event(conn)
    sockets: list[tuple[bool, Subscriber]] = []
    try:
        for n, (viewer, reads_name) in enumerate(viewers.items()):
            token = await session_of(conn, world, viewer, tag=f"fanout{n}")
            for _ in range(2):  # two sockets of one viewer share what they are shown
                subscriber = await open_socket(api.ws_url, token=token)
                await start(subscriber, NAMES, {"after": after})
                sockets.append((reads_name, subscriber))
        await conn.execute(TOUCH, own.id)
        event_id = str(await last_event(conn))
        for reads_name, subscriber in sockets:
            message = await subscriber.receive()
            assert message["type"] == "next", message
            payload = message["payload"]
            event = payload["data"]["clientEvents"]
            assert event["id"] == event_id
            if reads_name:
                assert not payload.get("errors"), payload
                assert event["client"]["firstName"] == "Own"
            else:
                assert event["client"] is None or event["client"].get("firstName") is None
                codes = {e["extensions"]["code"] for e in payload["errors"]}
                assert codes == {"FORBIDDEN"}, payload
    finally:
        for _, subscriber in sockets:
            await subscriber.socket.close()


async def test_12_1_an_events_object_is_built_once_for_every_socket_waiting_for_it() -> None:
    fanout = Fanout()
    builds: list[int] = []
    release = asyncio.Event()

    async def build() -> str:
        builds.append(1)
        await release.wait()
        return "built"

    waiting = [asyncio.create_task(fanout.built((1, "staff"), build)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == ["built"] * 5
    assert builds == [1]
    # Another visibility (or event) is built for itself.
    assert await fanout.built((1, "client area"), build) == "built"
    assert builds == [1, 1]


async def test_12_1_a_socket_going_away_stops_only_its_own_wait_for_a_shared_build() -> None:
    fanout = Fanout()
    release = asyncio.Event()

    async def build() -> str:
        await release.wait()
        return "built"

    first = asyncio.create_task(fanout.built(1, build))
    second = asyncio.create_task(fanout.built(1, build))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == "built"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_12_1_a_failed_build_is_tried_again_by_the_next_socket() -> None:
    fanout = Fanout()
    attempts: list[int] = []

    async def build() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("the database went away")
        return "built"

    with pytest.raises(ConnectionError):
        await fanout.built(1, build)
    assert await fanout.built(1, build) == "built"
    assert len(attempts) == 2


def test_12_1_only_a_shared_object_less_event_shares_its_execution() -> None:
    fanout = Fanout()
    operation = parse("subscription { emailEvents { id } }").definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    runs: list[int] = []

    def execute() -> ExecutionResult:
        runs.append(1)
        return ExecutionResult(data={"emailEvents": {"id": "7"}})

    bare = fanout.bare(7, lambda: SimpleNamespace(id="7"))
    assert fanout.bare(7, lambda: SimpleNamespace(id="7")) is bare
    first = fanout.shared_result(bare, operation, {}, execute)
    second = fanout.shared_result(bare, operation, {}, execute)
    assert runs == [1]
    assert first is not second and first.data == second.data == {"emailEvents": {"id": "7"}}
    # Other variables, or an event built for one viewer (with its object), run on their own.
    fanout.shared_result(bare, operation, {"c": "Q2xpZW50OjE="}, execute)
    fanout.shared_result(SimpleNamespace(id="7"), operation, {}, execute)
    assert runs == [1, 1, 1]


def test_12_1_a_commit_wakes_the_subscribers_of_its_client_and_of_every_client_only() -> None:
    hub = EventHub("postgresql://unused")
    offered: dict[str, list[list[int]]] = {}

    def event(pk: int, client_id: int | None) -> Event:
        return Event(pk, Topic.CLIENT, EventKind.UPDATED, pk, client_id, datetime.now(UTC))

    with contextlib.ExitStack() as stack:
        for name, client_id in (("all", None), ("of 1", 1), ("of 2", 2)):
            subscriber = stack.enter_context(
                hub.subscribe(Topic.CLIENT, 10, lambda: None, client_id=client_id)
            )
            original = subscriber.offer
            offered[name] = []

            def record(batch: Any, name: str = name, original: Any = original) -> None:
                offered[name].append([e.id for e in batch])
                original(batch)

            subscriber.offer = record  # type: ignore[method-assign]
        hub._dispatch([event(10, 1), event(11, 3), event(12, None), event(13, 1)])
    assert offered == {"all": [[10, 11, 12, 13]], "of 1": [[10, 13]], "of 2": []}
