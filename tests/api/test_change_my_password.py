"""changeMyPassword (SPEC 5.1, 11.1): every login kind changes its own password, given its
current one; its other sessions end, the one asking stays."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from domain.auth.passwords import hash_password
from domain.auth.staff import create_staff
from tests.conftest import add_client, gql, login

OLD, NEW = "the-old-password-1", "the-new-password-2"
CHANGE = """mutation($current: String!, $new: String!) {
  changeMyPassword(currentPassword: $current, newPassword: $new) {
    ok errors { field code message } } }"""
VIEWER = "query { viewer { kind email } }"


async def _staff(conn: asyncpg.Connection) -> str:
    await create_staff(
        conn, email="me@staff.example.com", password=OLD, first_name="Me", last_name="Staff"
    )
    return "me@staff.example.com"


async def _holder(conn: asyncpg.Connection) -> str:
    await add_client(conn, email="me@example.com", password=OLD)
    return "me@example.com"


async def _sub_account(conn: asyncpg.Connection) -> str:
    client = await add_client(conn)
    login_id = await conn.fetchval(
        "INSERT INTO logins (email, password_hash) VALUES ('sub@example.com', $1) RETURNING id",
        await hash_password(OLD),
    )
    await conn.execute(
        """INSERT INTO contacts (client_id, login_id, first_name, last_name, email)
           VALUES ($1, $2, 'Sub', 'Account', 'sub@example.com')""",
        client.id,
        login_id,
    )
    return "sub@example.com"


KINDS = {"STAFF": _staff, "CLIENT": _holder, "CONTACT": _sub_account}


async def change(api: httpx.AsyncClient, token: str, current: str, new: str) -> dict[str, Any]:
    body = await gql(api, CHANGE, {"current": current, "new": new}, token=token)
    result: dict[str, Any] = body["data"]["changeMyPassword"]
    return result


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_every_login_kind_changes_its_own_password_and_its_other_sessions_end(
    api: httpx.AsyncClient, conn: asyncpg.Connection, kind: str
) -> None:
    email = await KINDS[kind](conn)
    other = await login(api, email, OLD)
    mine = await login(api, email, OLD)
    api.cookies.clear()  # each request as its bearer token says
    stored = "SELECT password_hash FROM logins WHERE email = $1"
    hash_before = await conn.fetchval(stored, email)

    wrong = await change(api, mine, "not-the-password", NEW)
    short = await change(api, mine, OLD, "short")

    assert wrong["errors"] == [
        {
            "field": "currentPassword",
            "code": "INVALID_CREDENTIALS",
            "message": "The current password is wrong.",
        }
    ]
    assert [(e["field"], e["code"]) for e in short["errors"]] == [("newPassword", "INVALID")]
    assert await conn.fetchval(stored, email) == hash_before
    assert (await gql(api, VIEWER, token=other))["data"]["viewer"] is not None

    changed = await change(api, mine, OLD, NEW)

    assert changed == {"ok": True, "errors": []}
    assert (await gql(api, VIEWER, token=mine))["data"]["viewer"] == {"kind": kind, "email": email}
    assert (await gql(api, VIEWER, token=other))["data"]["viewer"] is None
    await login(api, email, NEW)
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'login.password_changed'"
        )
        == 1
    )
