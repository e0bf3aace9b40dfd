"""A request takes one connection from the pool, however many resolvers and DataLoaders
read through it, and gives it back without a reset round trip."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from app import db
from domain.auth import sessions
from resolvers.connection import RequestConnection
from tests.api.test_authz_matrix import TTL
from tests.api.test_query_growth import add_client_with_everything, root_document
from tests.conftest import CountedApi, gid


@pytest.fixture
def acquisitions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per connection the app's pool hands out."""
    taken: list[int] = []
    acquire = db.MeasuredPool._acquire

    async def counted(self: db.MeasuredPool, timeout: float | None) -> Any:  # noqa: ASYNC109
        taken.append(1)
        return await acquire(self, timeout)

    monkeypatch.setattr(db.MeasuredPool, "_acquire", counted)
    return taken


async def test_a_request_takes_one_connection_and_resets_nothing(
    conn: asyncpg.Connection, counted_api: CountedApi, acquisitions: list[int]
) -> None:
    ids = [await add_client_with_everything(conn, n, 2) for n in range(2)]
    staff_login = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ('one@staff.ex.com') RETURNING id"
    )
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) "
        "VALUES ($1, 'Sam', 'Staff', 'ADMIN')",
        staff_login,
    )
    token = await sessions.start_session(conn, staff_login, ttl=TTL)
    for root, variables in (
        ("clients", {"first": 2}),
        ("client", {"id": gid("Client", ids[0])}),
    ):
        acquisitions.clear()
        # Every field reachable from the root: a dozen DataLoaders, run concurrently.
        await counted_api.count(root_document(root), variables, token)
        assert "errors" not in counted_api.last_body, counted_api.last_body
        assert len(acquisitions) == 1, root
        assert not any("pg_advisory_unlock_all" in s for s in counted_api.statements)


async def test_a_staff_request_reads_its_service_filter_with_its_session(
    conn: asyncpg.Connection, counted_api: CountedApi
) -> None:
    client_id = await add_client_with_everything(conn, 0, 2)
    staff_login = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ('filter@staff.ex.com') RETURNING id"
    )
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) "
        "VALUES ($1, 'Sam', 'Staff', 'ADMIN')",
        staff_login,
    )
    token = await sessions.start_session(conn, staff_login, ttl=TTL)
    document = "query($id: ID!) { client(id: $id) { services { status } } }"
    variables = {"id": gid("Client", client_id)}

    async def statuses() -> list[str]:
        await counted_api.count(document, variables, token)
        assert "errors" not in counted_api.last_body, counted_api.last_body
        # The session and its remembered filter (SPEC 1.9) come in the session's statement.
        assert sum("sessions" in s for s in counted_api.statements) == 1
        return [s["status"] for s in counted_api.last_body["data"]["client"]["services"]]

    assert set(await statuses()) == {"PENDING"}
    await conn.execute(
        "UPDATE sessions SET service_status_filter = '{ACTIVE}' WHERE login_id = $1", staff_login
    )
    assert await statuses() == []


async def test_a_request_whose_connection_the_server_ended_takes_another(
    pool: asyncpg.Pool,
) -> None:
    """PostgreSQL ending the request's connection (a restart) puts it back in the pool
    behind the request's back: the next use takes a new one, rather than failing on it."""
    request = RequestConnection(pool)
    with pytest.raises(asyncpg.PostgresError):
        async with request.use() as conn:
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    async with request.use() as conn:
        assert await conn.fetchval("SELECT 1") == 1
    await request.give_back()
    assert request.acquired == 2
