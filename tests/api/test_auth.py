"""Login, sessions, the session cookie and the login throttle through the API (SPEC 1.3, 5.1,
5.4).

Password hashing with the production argon2 parameters is slow on purpose, so accounts get
a hash computed once for the module (`CURRENT_HASH`), or one with older, cheap parameters
(`OLD_HASH`) where a test makes many failed attempts.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import argon2
import asyncpg
import httpx
import pyotp
import pytest

from domain.auth import passwords, sessions
from domain.auth.permissions import StaffRole
from domain.clients import services as client_services
from domain.clients.models import ClientStatus
from resolvers.context import SESSION_COOKIE
from tests.conftest import LOGIN, gid, gql, login, turn_on_two_factor

PASSWORD = "client-password-1"
OLD_HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
OLD_HASH = OLD_HASHER.hash(PASSWORD)
CURRENT_HASH = passwords.hash_password_blocking(PASSWORD)
TTL = timedelta(hours=1)
ME = "query { me { id email } viewer { kind email } }"


async def add_client(
    conn: asyncpg.Connection, email: str = "joe@example.com", password_hash: str = CURRENT_HASH
) -> int:
    """A client whose owner logs in with PASSWORD; returns its id."""
    client = await client_services.add_client(
        conn,
        {"first_name": "Joe", "last_name": "Bloggs", "email": email},
        password=None,
        staff_id=None,
        send_welcome_email=False,
        client_area_url="http://127.0.0.1:8000",
    )
    await conn.execute(
        "UPDATE logins SET password_hash = $2 WHERE id = $1", client.owner_login_id, password_hash
    )
    return client.id


async def admin_session(conn: asyncpg.Connection) -> str:
    """A staff ADMIN session opened directly (logging staff in is tested elsewhere)."""
    login_id = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ('admin@staff.example.com') RETURNING id"
    )
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) VALUES ($1, 'Ada', 'Min', $2)",
        login_id,
        StaffRole.ADMIN.value,
    )
    return await sessions.start_session(conn, login_id, ttl=TTL)


async def post_login(
    api: httpx.AsyncClient, email: str, password: str, totp_code: str | None = None
) -> tuple[httpx.Response, dict[str, Any]]:
    variables = {"email": email, "password": password, "totpCode": totp_code}
    response = await api.post("/graphql", json={"query": LOGIN, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return response, body["data"]["login"]


def error_codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["errors"]]


async def me(api: httpx.AsyncClient, token: str) -> dict[str, Any]:
    """The `me` and `viewer` answer for a bearer token, the cookie jar left out."""
    api.cookies.clear()
    return await gql(api, ME, token=token, allow_errors=True)


def assert_logged_out(body: dict[str, Any]) -> None:
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    assert body["data"] is None or body["data"]["me"] is None


async def session_count(conn: asyncpg.Connection) -> int:
    value: int = await conn.fetchval("SELECT count(*) FROM sessions")
    return value


async def test_5_1_clients_log_in_and_passwords_are_stored_as_argon2id(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    admin = await admin_session(conn)
    added = await gql(
        api,
        """mutation($password: String!) { addClient(input: {firstName: "Joe",
             lastName: "Bloggs", email: "joe@example.com", password: $password},
             sendWelcomeEmail: false) { client { id } errors { code } } }""",
        {"password": PASSWORD},
        token=admin,
    )
    client_id = added["data"]["addClient"]["client"]["id"]
    stored = await conn.fetchval("SELECT password_hash FROM logins WHERE email = 'joe@example.com'")
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored

    _, payload = await post_login(api, "joe@example.com", PASSWORD)
    assert payload["errors"] == []
    assert payload["viewer"] == {
        "kind": "CLIENT",
        "email": "joe@example.com",
        "clientId": client_id,
        "staffRole": None,
    }
    body = await me(api, payload["token"])
    assert body["data"]["me"] == {"id": client_id, "email": "joe@example.com"}


async def test_5_1_wrong_password_and_unknown_email_get_the_same_answer(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    await add_client(conn, password_hash=OLD_HASH)
    wrong_response, wrong_password = await post_login(api, "joe@example.com", "wrong-password")
    unknown_response, unknown_email = await post_login(api, "nobody@example.com", PASSWORD)
    assert error_codes(wrong_password) == ["INVALID_CREDENTIALS"]
    assert wrong_password == unknown_email
    assert wrong_password["token"] is None and wrong_password["viewer"] is None
    for response in (wrong_response, unknown_response):
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert await session_count(conn) == 0


@pytest.mark.parametrize(
    ("status", "refusal"),
    [
        (ClientStatus.ACTIVE, None),
        (ClientStatus.INACTIVE, None),
        (ClientStatus.CLOSED, "ACCOUNT_CLOSED"),
    ],
)
async def test_1_3_closed_clients_cannot_log_in_but_inactive_ones_can(
    api: httpx.AsyncClient, conn: asyncpg.Connection, status: ClientStatus, refusal: str | None
) -> None:
    client_id = await add_client(conn)
    await client_services.set_client_status(conn, client_id, status, staff_id=None)
    response, payload = await post_login(api, "joe@example.com", PASSWORD)
    if refusal:
        assert error_codes(payload) == [refusal]
        assert payload["token"] is None
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
        assert await session_count(conn) == 0
    else:
        assert payload["errors"] == []
        body = await me(api, payload["token"])
        assert body["data"]["me"]["id"] == gid("Client", client_id)


async def test_1_3_closing_a_client_ends_its_sessions(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client_id = await add_client(conn)
    token = await login(api, "joe@example.com", PASSWORD)
    assert (await me(api, token))["data"]["me"]["id"] == gid("Client", client_id)
    admin = await admin_session(conn)

    closed = await gql(
        api,
        """mutation($id: ID!) { setClientStatus(id: $id, status: CLOSED) {
             client { status } errors { code } } }""",
        {"id": gid("Client", client_id)},
        token=admin,
    )
    assert closed["data"]["setClientStatus"] == {"client": {"status": "CLOSED"}, "errors": []}

    assert_logged_out(await me(api, token))
    owner_sessions = await conn.fetchval(
        "SELECT count(*) FROM sessions JOIN clients c ON c.owner_login_id = sessions.login_id"
    )
    assert owner_sessions == 0
    assert (await gql(api, "{ viewer { kind } }", token=admin))["data"]["viewer"]["kind"] == "STAFF"


async def test_logout_ends_the_session(api: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    await add_client(conn)
    token = await login(api, "joe@example.com", PASSWORD)
    other = await login(api, "joe@example.com", PASSWORD)
    api.cookies.clear()

    response = await api.post(
        "/graphql",
        json={"query": "mutation { logout }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.json() == {"data": {"logout": True}}
    # The browser is told to drop the cookie too.
    assert f'{SESSION_COOKIE}=""' in response.headers["set-cookie"]
    assert "max-age=0" in response.headers["set-cookie"].lower()

    assert_logged_out(await me(api, token))
    # Only this session ended.
    assert (await me(api, other))["data"]["me"]["email"] == "joe@example.com"
    assert await session_count(conn) == 1


async def test_logout_without_a_session_is_false(api: httpx.AsyncClient) -> None:
    assert await gql(api, "mutation { logout }") == {"data": {"logout": False}}


async def test_expired_session_tokens_are_refused(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    await add_client(conn)
    login_id = await conn.fetchval("SELECT id FROM logins")
    token = await sessions.start_session(conn, login_id, ttl=TTL)
    assert (await me(api, token))["data"]["me"]["email"] == "joe@example.com"

    await conn.execute("UPDATE sessions SET expires_at = now() - interval '1 second'")
    assert_logged_out(await me(api, token))
    body = await gql(api, "{ viewer { kind } }", token=token)
    assert body == {"data": {"viewer": None}}


async def test_session_tokens_are_stored_only_hashed(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    await add_client(conn)
    token = await login(api, "joe@example.com", PASSWORD)
    assert len(token) >= 32
    rows = await conn.fetch("SELECT s::text AS whole, token_hash FROM sessions s")
    assert len(rows) == 1
    assert token not in rows[0]["whole"]
    assert token.encode() not in bytes(rows[0]["token_hash"])


async def test_login_sets_an_httponly_samesite_strict_session_cookie(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    await add_client(conn)
    response, payload = await post_login(api, "joe@example.com", PASSWORD)
    cookie = response.headers["set-cookie"]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert attributes[0] == f"{SESSION_COOKIE}={payload['token']}".lower()
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/" in attributes
    assert any(a.startswith("max-age=") and int(a.split("=")[1]) > 0 for a in attributes)


def cookie_request(content_type: str, token: str) -> dict[str, Any]:
    """A POST that carries the session only as a cookie, as a browser would send it."""
    return {
        "content": json.dumps({"query": ME}).encode(),
        "headers": {"Content-Type": content_type, "Cookie": f"{SESSION_COOKIE}={token}"},
    }


async def test_the_session_cookie_authenticates_json_requests(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client_id = await add_client(conn)
    token = await sessions.start_session(
        conn, await conn.fetchval("SELECT id FROM logins"), ttl=TTL
    )
    for content_type in ("application/json", "application/json; charset=utf-8"):
        response = await api.post("/graphql", **cookie_request(content_type, token))
        assert response.status_code == 200
        assert response.json()["data"]["me"] == {
            "id": gid("Client", client_id),
            "email": "joe@example.com",
        }


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ],
)
async def test_the_session_cookie_does_not_authenticate_simple_cross_site_requests(
    api: httpx.AsyncClient, conn: asyncpg.Connection, content_type: str
) -> None:
    # A page on another site can make a browser send these (a form post or a no-cors fetch)
    # with the cookie attached; they must not act for the logged-in user.
    await add_client(conn)
    token = await sessions.start_session(
        conn, await conn.fetchval("SELECT id FROM logins"), ttl=TTL
    )
    response = await api.post("/graphql", **cookie_request(content_type, token))
    assert "joe@example.com" not in response.text
    if response.status_code == 200:
        assert_logged_out(response.json())
    else:
        assert response.status_code in (400, 415)


async def test_5_4_login_rehashes_a_hash_with_older_argon2_parameters(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    await add_client(conn, password_hash=OLD_HASH)
    await login(api, "joe@example.com", PASSWORD)
    new_hash = await conn.fetchval("SELECT password_hash FROM logins")
    assert new_hash != OLD_HASH
    assert new_hash.startswith("$argon2id$")
    assert not passwords.needs_rehash(new_hash)
    assert argon2.PasswordHasher().verify(new_hash, PASSWORD)


async def test_5_4_failed_logins_are_throttled(
    api: httpx.AsyncClient, conn: asyncpg.Connection, settings: Any
) -> None:
    await add_client(conn, password_hash=OLD_HASH)
    for _ in range(settings.login_max_failures):
        _, payload = await post_login(api, "joe@example.com", "wrong-password")
        assert error_codes(payload) == ["INVALID_CREDENTIALS"]
    _, payload = await post_login(api, "joe@example.com", PASSWORD)
    assert error_codes(payload) == ["TOO_MANY_ATTEMPTS"]
    assert payload["token"] is None
    assert await session_count(conn) == 0


SELECTION = "token errors { code }"


async def test_5_4_failed_logins_are_throttled_across_aliases(
    api: httpx.AsyncClient, conn: asyncpg.Connection, settings: Any
) -> None:
    await add_client(conn, password_hash=OLD_HASH)
    guesses = settings.login_max_failures + 5
    aliases = "\n".join(
        f'guess{n}: login(email: "joe@example.com", password: "guess-{n}") {{ {SELECTION} }}'
        for n in range(guesses)
    )
    document = f"""mutation {{
        {aliases}
        right: login(email: "joe@example.com", password: "{PASSWORD}") {{ {SELECTION} }}
    }}"""
    body = await gql(api, document)
    codes = [body["data"][f"guess{n}"]["errors"][0]["code"] for n in range(guesses)]
    assert (
        codes == ["INVALID_CREDENTIALS"] * settings.login_max_failures + ["TOO_MANY_ATTEMPTS"] * 5
    )
    assert body["data"]["right"] == {"token": None, "errors": [{"code": "TOO_MANY_ATTEMPTS"}]}
    assert await session_count(conn) == 0
    _, payload = await post_login(api, "joe@example.com", PASSWORD)
    assert error_codes(payload) == ["TOO_MANY_ATTEMPTS"]


async def test_5_4_failed_logins_are_throttled_across_concurrent_requests(
    api: httpx.AsyncClient, conn: asyncpg.Connection, settings: Any
) -> None:
    await add_client(conn, password_hash=OLD_HASH)
    attempts = settings.login_max_failures + 5
    answers = await asyncio.gather(
        *(post_login(api, "joe@example.com", f"guess-{n}") for n in range(attempts))
    )
    codes = [error_codes(payload) for _, payload in answers]
    assert codes.count(["INVALID_CREDENTIALS"]) == settings.login_max_failures
    assert codes.count(["TOO_MANY_ATTEMPTS"]) == 5


async def test_5_4_batched_requests_are_refused(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    await add_client(conn, password_hash=OLD_HASH)
    operation = {"query": LOGIN, "variables": {"email": "joe@example.com", "password": PASSWORD}}
    response = await api.post("/graphql", json=[operation] * 3)
    assert response.status_code == 400
    assert await session_count(conn) == 0


def totp_code(secret: str, which: str) -> str | None:
    if which == "none":
        return None
    now = pyotp.TOTP(secret).now()
    # Codes one step either side of now are accepted (clock drift); this one is further off.
    return now if which == "right" else f"{(int(now) + 5) % 1_000_000:06d}"


@pytest.mark.parametrize(
    ("which", "refusal"),
    [("none", "TOTP_REQUIRED"), ("wrong", "INVALID_CREDENTIALS"), ("right", None)],
)
async def test_5_1_login_with_two_factor_needs_the_totp_code(
    api: httpx.AsyncClient, conn: asyncpg.Connection, which: str, refusal: str | None
) -> None:
    await add_client(conn, password_hash=OLD_HASH)
    secret = await turn_on_two_factor(conn, "joe@example.com")
    _, payload = await post_login(api, "joe@example.com", PASSWORD, totp_code(secret, which))
    if refusal:
        assert error_codes(payload) == [refusal]
        assert payload["token"] is None
        assert await session_count(conn) == 0
    else:
        assert payload["errors"] == []
        assert (await me(api, payload["token"]))["data"]["me"]["email"] == "joe@example.com"
