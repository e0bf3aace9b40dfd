"""Who may do what through the API (SPEC 10.1): every staff operation needs an authenticated
staff member holding its permission; the client area sees only the viewer's own client.

The sessions here are opened on the domain directly (the login itself is tested in
test_auth.py), which keeps the matrix free of slow password hashing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from domain.auth import sessions
from domain.auth.permissions import ContactPermission, StaffRole
from domain.clients import services as client_services
from tests.conftest import gid, gql

TTL = timedelta(hours=1)
OK = "OK"
UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"


@dataclass(frozen=True)
class Operation:
    field: str
    document: str
    # What must have changed in the database when the operation was allowed (None: a query).
    changed: str | None = None


OPERATIONS = {
    op.field: op
    for op in [
        Operation("clients", "query { clients { totalCount edges { node { id email notes } } } }"),
        Operation("client", "query($id: ID!) { client(id: $id) { id email notes } }"),
        Operation(
            "addClient",
            """mutation { addClient(input: {firstName: "New", lastName: "Client",
                 email: "new@example.com"}, sendWelcomeEmail: false) {
                 client { id email } errors { code } } }""",
            "SELECT count(*) = 1 FROM clients WHERE email = 'new@example.com'",
        ),
        Operation(
            "updateClient",
            """mutation($id: ID!) { updateClient(id: $id, input: {notes: "changed"}) {
                 client { id email notes } errors { code } } }""",
            "SELECT notes = 'changed' FROM clients WHERE email = 'victim@example.com'",
        ),
        Operation(
            "setClientStatus",
            """mutation($id: ID!) { setClientStatus(id: $id, status: INACTIVE) {
                 client { id email status } errors { code } } }""",
            "SELECT status = 'INACTIVE' FROM clients WHERE email = 'victim@example.com'",
        ),
        Operation(
            "updateGeneralSettings",
            """mutation { updateGeneralSettings(input: {clientDisplayFormat: COMPANY_IF_SET}) {
                 settings { clientDisplayFormat } errors { code } } }""",
            "SELECT value->>'client_display_format' = 'COMPANY_IF_SET' FROM settings "
            "WHERE key = 'general'",
        ),
    ]
}

ROLE_MATRIX = {
    StaffRole.ADMIN: {"clients", "client", "addClient", "updateClient", "setClientStatus"}
    | {"updateGeneralSettings"},
    StaffRole.BILLING: {"clients", "client", "addClient", "updateClient", "setClientStatus"},
    StaffRole.SUPPORT: {"clients", "client", "addClient", "updateClient", "setClientStatus"},
    StaffRole.READ_ONLY: {"clients", "client"},
}


async def add_client(conn: asyncpg.Connection, email: str) -> tuple[int, int]:
    """A client (with no password: its sessions are opened directly); its id and login id."""
    client = await client_services.add_client(
        conn,
        {"first_name": "Joe", "last_name": email.split("@")[0].title(), "email": email},
        password=None,
        staff_id=None,
        send_welcome_email=False,
        client_area_url="http://127.0.0.1:8000",
    )
    await conn.execute("UPDATE clients SET notes = 'staff eyes only' WHERE id = $1", client.id)
    return client.id, client.owner_login_id


async def client_session(conn: asyncpg.Connection, email: str) -> tuple[int, str]:
    client_id, login_id = await add_client(conn, email)
    return client_id, await sessions.start_session(conn, login_id, ttl=TTL)


async def staff_session(conn: asyncpg.Connection, role: StaffRole) -> str:
    # A staff member without a password: only a session is needed here.
    login_id = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ($1) RETURNING id", f"{role.lower()}@staff.example.com"
    )
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) VALUES ($1, 'Sam', 'Staff', $2)",
        login_id,
        role.value,
    )
    return await sessions.start_session(conn, login_id, ttl=TTL)


async def state(conn: asyncpg.Connection) -> tuple[Any, ...]:
    """Everything the operations under test could change."""
    return (
        await conn.fetch("SELECT * FROM clients ORDER BY id"),
        await conn.fetch("SELECT * FROM logins ORDER BY id"),
        await conn.fetch("SELECT * FROM settings ORDER BY key"),
        await conn.fetchval("SELECT count(*) FROM audit_log"),
    )


async def run(
    api: httpx.AsyncClient, op: Operation, victim_id: int, token: str | None
) -> dict[str, Any]:
    variables = {"id": gid("Client", victim_id)} if "$id" in op.document else {}
    return await gql(api, op.document, variables, token=token, allow_errors=True)


def assert_refused(body: dict[str, Any], field: str, code: str) -> None:
    assert [e["extensions"]["code"] for e in body.get("errors", [])] == [code], body
    assert body["errors"][0]["path"] == [field]
    assert (body.get("data") or {}).get(field) is None
    assert "victim@example.com" not in str(body)
    assert "staff eyes only" not in str(body)


@pytest.fixture
async def victim(conn: asyncpg.Connection) -> int:
    client_id, _ = await add_client(conn, "victim@example.com")
    return client_id


@pytest.mark.parametrize("field", [*OPERATIONS, "me"])
async def test_10_1_anonymous_access_is_unauthenticated(
    api: httpx.AsyncClient, conn: asyncpg.Connection, victim: int, field: str
) -> None:
    op = OPERATIONS.get(field) or Operation("me", "query { me { id email } }")
    before = await state(conn)
    body = await run(api, op, victim, None)
    assert_refused(body, field, UNAUTHENTICATED)
    assert await state(conn) == before


async def test_10_1_an_unknown_token_is_unauthenticated(
    api: httpx.AsyncClient, conn: asyncpg.Connection, victim: int
) -> None:
    before = await state(conn)
    for field in ("client", "setClientStatus"):
        body = await run(api, OPERATIONS[field], victim, "not-a-session-token")
        assert_refused(body, field, UNAUTHENTICATED)
    assert await state(conn) == before


@pytest.mark.parametrize("field", OPERATIONS)
async def test_10_1_client_login_is_forbidden_staff_operations(
    api: httpx.AsyncClient, conn: asyncpg.Connection, victim: int, field: str
) -> None:
    own_id, token = await client_session(conn, "joe@example.com")
    before = await state(conn)
    # Neither another client nor its own account is reachable through a staff operation.
    for client_id in (victim, own_id):
        body = await run(api, OPERATIONS[field], client_id, token)
        assert_refused(body, field, FORBIDDEN)
        assert "joe@example.com" not in str(body)
    assert await state(conn) == before


@pytest.mark.parametrize("field", OPERATIONS)
@pytest.mark.parametrize("role", StaffRole)
async def test_10_1_staff_operations_need_the_role_permission(
    api: httpx.AsyncClient, conn: asyncpg.Connection, victim: int, role: StaffRole, field: str
) -> None:
    token = await staff_session(conn, role)
    op = OPERATIONS[field]
    before = await state(conn)
    body = await run(api, op, victim, token)
    if field not in ROLE_MATRIX[role]:
        assert_refused(body, field, FORBIDDEN)
        assert await state(conn) == before
        return
    assert "errors" not in body, body
    result = body["data"][field]
    if op.changed is None:
        assert "victim@example.com" in str(result)
        assert "staff eyes only" in str(result)
        assert await state(conn) == before
    else:
        assert result["errors"] == []
        assert await conn.fetchval(op.changed) is True


async def test_10_1_me_returns_only_the_viewers_own_client(
    api: httpx.AsyncClient, conn: asyncpg.Connection, victim: int
) -> None:
    joe_id, joe_token = await client_session(conn, "joe@example.com")
    ann_id, ann_token = await client_session(conn, "ann@example.com")
    query = "query { me { id email notes } }"
    for client_id, email, token in [
        (joe_id, "joe@example.com", joe_token),
        (ann_id, "ann@example.com", ann_token),
    ]:
        body = await gql(api, query, token=token)
        # Staff notes are not for the client's eyes.
        assert body["data"]["me"] == {"id": gid("Client", client_id), "email": email, "notes": None}


@pytest.mark.parametrize("role", [StaffRole.ADMIN, StaffRole.READ_ONLY])
async def test_10_1_me_is_forbidden_to_staff(
    api: httpx.AsyncClient, conn: asyncpg.Connection, victim: int, role: StaffRole
) -> None:
    token = await staff_session(conn, role)
    body = await gql(api, "query { me { id email notes } }", token=token, allow_errors=True)
    assert_refused(body, "me", FORBIDDEN)


VIEWER = "query { viewer { kind email clientId staffRole permissions } }"


async def test_10_1_viewer_is_null_when_nobody_is_logged_in(api: httpx.AsyncClient) -> None:
    assert await gql(api, VIEWER) == {"data": {"viewer": None}}


async def test_10_1_viewer_reports_a_client_login(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client_id, token = await client_session(conn, "joe@example.com")
    body = await gql(api, VIEWER, token=token)
    assert body["data"]["viewer"] == {
        "kind": "CLIENT",
        "email": "joe@example.com",
        "clientId": gid("Client", client_id),
        "staffRole": None,
        # The account holder may do everything in the client area (SPEC 2.4).
        "permissions": sorted(p.value for p in ContactPermission),
    }


@pytest.mark.parametrize(
    ("role", "permissions"),
    [
        (StaffRole.ADMIN, ["EDIT_CLIENTS", "MANAGE_SETTINGS", "MANAGE_STAFF", "VIEW_AUDIT_LOG"]),
        (StaffRole.READ_ONLY, ["VIEW_CLIENTS"]),
    ],
)
async def test_10_1_viewer_reports_a_staff_login(
    api: httpx.AsyncClient, conn: asyncpg.Connection, role: StaffRole, permissions: list[str]
) -> None:
    token = await staff_session(conn, role)
    viewer = (await gql(api, VIEWER, token=token))["data"]["viewer"]
    assert {k: viewer[k] for k in ("kind", "email", "clientId", "staffRole")} == {
        "kind": "STAFF",
        "email": f"{role.lower()}@staff.example.com",
        "clientId": None,
        "staffRole": role.value,
    }
    assert set(permissions) <= set(viewer["permissions"])
    if role is StaffRole.READ_ONLY:
        assert viewer["permissions"] == permissions


async def test_10_1_a_deactivated_staff_members_sessions_stop_working(
    api: httpx.AsyncClient, conn: asyncpg.Connection, victim: int
) -> None:
    token = await staff_session(conn, StaffRole.ADMIN)
    op = OPERATIONS["client"]
    assert "errors" not in await run(api, op, victim, token)
    await conn.execute("UPDATE staff SET active = false")
    assert_refused(await run(api, op, victim, token), "client", UNAUTHENTICATED)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(StaffRole.SUPPORT, True), (StaffRole.READ_ONLY, False)],
)
async def test_10_1_reading_a_clients_emails_needs_view_emails(
    api: httpx.AsyncClient, conn: asyncpg.Connection, victim: int, role: StaffRole, allowed: bool
) -> None:
    token = await staff_session(conn, role)
    body = await gql(
        api,
        "query($id: ID!) { client(id: $id) { id emails { subject } } }",
        {"id": gid("Client", victim)},
        token=token,
        allow_errors=True,
    )
    if allowed:
        assert body == {"data": {"client": {"id": gid("Client", victim), "emails": []}}}
    else:
        assert [e["extensions"]["code"] for e in body["errors"]] == [FORBIDDEN]
        assert body["errors"][0]["path"] == ["client", "emails"]
        assert body["data"] is None or body["data"]["client"] is None
