"""Changing the account holder's login address from the client area (SPEC 5.5): the current
password, a link emailed to the new address, a notice to the old one, and the same answer
whether or not the new address has a login."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from domain.auth import sessions
from tests.conftest import LOGIN, add_client, gql

PASSWORD = "holder-password-1"
TTL = timedelta(hours=1)
ERRORS = "errors { field code }"
UPDATE = f"""mutation($input: UpdateMyProfileInput!) {{
  updateMyProfile(input: $input) {{ client {{ email companyName }} warnings {ERRORS} }} }}"""
CONFIRM = f"mutation($token: String!) {{ confirmEmailChange(token: $token) {{ ok {ERRORS} }} }}"
NEW = "joe.new@example.com"


async def holder_session(conn: asyncpg.Connection) -> str:
    client = await add_client(conn, password=PASSWORD)
    return await sessions.start_session(conn, client.owner_login_id, ttl=TTL)


async def change(api: httpx.AsyncClient, token: str, **fields: Any) -> dict[str, Any]:
    body = await gql(api, UPDATE, {"input": fields}, token=token)
    payload: dict[str, Any] = body["data"]["updateMyProfile"]
    return payload


async def state(conn: asyncpg.Connection) -> list[Any]:
    return [
        await conn.fetch("SELECT email::text, company_name FROM clients ORDER BY id"),
        await conn.fetch("SELECT email::text FROM logins ORDER BY id"),
        await conn.fetch("SELECT template, to_address FROM emails ORDER BY id"),
        await conn.fetchval("SELECT count(*) FROM password_tokens"),
    ]


async def confirmation_token(conn: asyncpg.Connection, to_address: str) -> str:
    context = await conn.fetchval(
        """SELECT context FROM emails WHERE template = 'email_change_confirmation'
             AND to_address = $1 ORDER BY id DESC LIMIT 1""",
        to_address,
    )
    token: str = context["secret"]["token"]
    return token


async def test_5_5_a_new_login_address_needs_the_current_password(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    token = await holder_session(conn)
    before = await state(conn)

    missing = await change(api, token, email=NEW, companyName="Changed")
    wrong = await change(api, token, email=NEW, companyName="Changed", currentPassword="wrong-1")

    assert missing["errors"] == [{"field": "currentPassword", "code": "REQUIRED"}]
    assert wrong["errors"] == [{"field": "currentPassword", "code": "INVALID"}]
    assert missing["client"] is None and wrong["client"] is None
    assert await state(conn) == before  # the other fields did not change either


async def test_5_5_the_answer_is_the_same_whether_or_not_the_address_has_a_login(
    api: httpx.AsyncClient, conn: asyncpg.Connection, make_staff: Any
) -> None:
    """The old answer, CONFLICT for an address with a login (staff included), is gone: the
    address is not looked up until its reader confirms it."""
    await make_staff(email="sam@staff.example.com")
    token = await holder_session(conn)
    answers = {}
    for address in ("sam@staff.example.com", NEW):
        answer = await change(api, token, email=address, currentPassword=PASSWORD)
        answers[address] = {
            **answer,
            "warnings": [w.replace(address, "…") for w in answer["warnings"]],
        }

    assert answers["sam@staff.example.com"] == answers[NEW]
    assert answers[NEW]["errors"] == [] and answers[NEW]["client"]["email"] == "joe@example.com"
    assert "confirmation link" in answers[NEW]["warnings"][0]
    sent = await conn.fetch(
        "SELECT to_address FROM emails WHERE template = 'email_change_confirmation' ORDER BY id"
    )
    assert [r["to_address"] for r in sent] == ["sam@staff.example.com", NEW]


async def test_5_5_the_link_changes_the_address_once_and_the_old_address_is_told(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    token = await holder_session(conn)
    await change(api, token, email=NEW, currentPassword=PASSWORD)
    link = await confirmation_token(conn, NEW)

    confirmed = await gql(api, CONFIRM, {"token": link})
    again = await gql(api, CONFIRM, {"token": link})

    assert confirmed["data"]["confirmEmailChange"] == {"ok": True, "errors": []}
    assert again["data"]["confirmEmailChange"]["errors"] == [{"field": "token", "code": "INVALID"}]
    assert await conn.fetchval("SELECT email::text FROM clients") == NEW
    logged_in = await gql(api, LOGIN, {"email": NEW, "password": PASSWORD})
    assert logged_in["data"]["login"]["errors"] == []
    notice = await conn.fetchrow(
        "SELECT to_address, context FROM emails WHERE template = 'email_change_notice'"
    )
    assert notice["to_address"] == "joe@example.com" and notice["context"]["new_email"] == NEW
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'client.login_email_changed'"
        )
        == 1
    )


async def test_5_5_an_address_taken_before_it_is_confirmed_is_refused(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    token = await holder_session(conn)
    await change(api, token, email=NEW, currentPassword=PASSWORD)
    link = await confirmation_token(conn, NEW)
    await add_client(conn, first_name="Other", email=NEW)
    before = await state(conn)

    refused = await gql(api, CONFIRM, {"token": link})

    assert refused["data"]["confirmEmailChange"]["errors"] == [
        {"field": "token", "code": "CONFLICT"}
    ]
    assert await state(conn) == before
