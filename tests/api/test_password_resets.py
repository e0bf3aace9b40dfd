"""Password resets, staff password actions and two-factor login through the API
(SPEC 1.7, 5.2, 5.3, 10.3). Sessions are opened directly; only the logins under test hash."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import Message
from typing import Any

import asyncpg
import httpx
import pyotp
from arq.connections import RedisSettings, create_pool

from domain.auth import passwords, resets, sessions
from domain.clients import services as client_services
from domain.emails.templates import REDACTED
from tests.conftest import LOGIN, CountedApi, Services, gid, gql

PASSWORD = "old-password-1"
PASSWORD_HASH = passwords.hash_password_blocking(PASSWORD)
TTL = timedelta(hours=1)
ERRORS = "errors { field code }"
REQUEST = f"mutation($email: String!) {{ requestPasswordReset(email: $email) {{ ok {ERRORS} }} }}"
CONFIRM = f"""mutation($token: String!, $password: String) {{
  confirmPasswordReset(token: $token, newPassword: $password) {{ ok {ERRORS} }} }}"""


async def add_client(conn: asyncpg.Connection) -> Any:
    client = await client_services.add_client(
        conn,
        {"first_name": "Joe", "last_name": "Bloggs", "email": "joe@example.com"},
        password=None,
        staff_id=None,
        send_welcome_email=False,
        client_area_url="http://127.0.0.1:8000",
    )
    await conn.execute(
        "UPDATE logins SET password_hash = $2 WHERE id = $1", client.owner_login_id, PASSWORD_HASH
    )
    return client


def text_of(message: Message) -> str:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


async def log_in(api: httpx.AsyncClient, password: str, totp_code: str | None = None) -> Any:
    variables = {"email": "joe@example.com", "password": password, "totpCode": totp_code}
    return (await gql(api, LOGIN, variables))["data"]["login"]


async def test_5_2_an_unknown_email_gets_the_same_answer_and_only_a_known_one_an_email(
    api: httpx.AsyncClient, conn: asyncpg.Connection, run_worker: Any
) -> None:
    await add_client(conn)
    answers = {}
    for email in ("nobody@example.com", "joe@example.com", "nobody2@example.com"):
        answers[email] = await gql(api, REQUEST, {"email": email})
    assert answers["joe@example.com"] == answers["nobody@example.com"]
    assert answers["joe@example.com"]["data"]["requestPasswordReset"] == {"ok": True, "errors": []}
    await run_worker()
    assert await conn.fetchval("SELECT to_address FROM emails") == "joe@example.com"
    assert await conn.fetchval("SELECT count(*) FROM password_reset_requests") == 0


async def test_5_2_a_known_and_an_unknown_address_cost_the_same_work(
    counted_api: CountedApi, conn: asyncpg.Connection, services: Services
) -> None:
    """Not timed, since timing on a shared machine proves little: the request sends the same
    statements to PostgreSQL and hands the same job to the workers for either address, so
    nothing it does depends on whether the address has a login (bench.reset_timing times it)."""
    await add_client(conn)
    redis = await create_pool(RedisSettings.from_dsn(services.redis_url))
    work = {}
    try:
        for email in ("joe@example.com", "nobody@example.com"):
            handed_over = {job.job_id for job in await redis.queued_jobs()}
            await counted_api.count(REQUEST, {"email": email}, token="")
            jobs = [job for job in await redis.queued_jobs() if job.job_id not in handed_over]
            work[email] = (list(counted_api.statements), [job.function for job in jobs])
    finally:
        await redis.aclose()
    assert work["joe@example.com"] == work["nobody@example.com"]
    assert work["joe@example.com"][1] == ["answer_reset_requests"]
    # Nothing is looked up, issued or queued until a worker answers.
    assert await conn.fetchval("SELECT count(*) FROM password_tokens") == 0
    assert await conn.fetchval("SELECT count(*) FROM emails") == 0


async def test_5_2_a_request_whose_hand_over_was_lost_is_answered_by_the_relay(
    conn: asyncpg.Connection, run_worker: Any
) -> None:
    await add_client(conn)
    await resets.request_password_reset(conn, "joe@example.com")  # recorded, not handed over
    await conn.execute("UPDATE password_reset_requests SET requested_at = now() - interval '1h'")
    await run_worker()
    assert await conn.fetchval("SELECT to_address FROM emails") == "joe@example.com"


async def test_5_2_requests_for_one_address_are_limited(
    api: httpx.AsyncClient, conn: asyncpg.Connection, run_worker: Any
) -> None:
    await add_client(conn)
    for _ in range(5):
        await gql(api, REQUEST, {"email": "joe@example.com"})
    refused = await gql(api, REQUEST, {"email": "joe@example.com"})
    assert refused["data"]["requestPasswordReset"]["errors"] == [
        {"field": "email", "code": "TOO_MANY_ATTEMPTS"}
    ]
    await run_worker()
    assert await conn.fetchval("SELECT count(*) FROM emails") == 5


async def test_5_2_8_2_the_emailed_link_resets_once_and_the_email_log_keeps_no_token(
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    services: Services,
    run_worker: Any,
) -> None:
    client = await add_client(conn)
    other_session = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    await gql(api, REQUEST, {"email": "joe@example.com"})
    await run_worker()

    [message] = services.mail.messages
    assert message["Subject"] == "Reset your password"
    [token] = re.findall(r"/password-reset/([A-Za-z0-9_-]+)", text_of(message))
    logged = await conn.fetchrow("SELECT body, context FROM emails")
    assert token not in str(dict(logged)) and REDACTED in logged["body"]

    used = await gql(api, CONFIRM, {"token": token, "password": "new-password-1"})
    assert used["data"]["confirmPasswordReset"] == {"ok": True, "errors": []}
    again = await gql(api, CONFIRM, {"token": token, "password": "new-password-2"})
    assert again["data"]["confirmPasswordReset"]["errors"] == [
        {"field": "token", "code": "INVALID"}
    ]
    assert await sessions.viewer_for_token(conn, other_session) is None
    assert (await log_in(api, "new-password-1"))["errors"] == []


async def test_5_3_10_3_staff_set_a_password_and_reset_and_send_through_the_api(
    api: httpx.AsyncClient, conn: asyncpg.Connection, admin_token: str
) -> None:
    client = await add_client(conn)
    variables = {"client": gid("Client", client.id)}
    set_password = f"""mutation($client: ID!) {{
      setPassword(clientId: $client, password: "staff-chosen-1") {{ ok {ERRORS} }} }}"""
    reset = (
        f"mutation($client: ID!) {{ resetAndSendPassword(clientId: $client) {{ ok {ERRORS} }} }}"
    )

    body = await gql(api, set_password, variables, token=admin_token)
    assert body["data"]["setPassword"] == {"ok": True, "errors": []}
    body = await gql(api, reset, variables, token=admin_token)
    assert body["data"]["resetAndSendPassword"] == {"ok": True, "errors": []}

    entries = await conn.fetch(
        "SELECT action, changes FROM audit_log WHERE client_id = $1", client.id
    )
    assert {"client.password_set", "client.password_reset_sent"} <= {e["action"] for e in entries}
    assert "staff-chosen-1" not in str([dict(entry) for entry in entries])


async def test_1_7_the_client_turns_two_factor_on_and_only_staff_turn_it_off(
    api: httpx.AsyncClient, conn: asyncpg.Connection, admin_token: str
) -> None:
    client = await add_client(conn)
    holder = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    begin = f"mutation {{ beginTwoFactorSetup {{ secret otpauthUri {ERRORS} }} }}"
    setup = (await gql(api, begin, token=holder))["data"]["beginTwoFactorSetup"]
    confirm = f"mutation($code: String!) {{ confirmTwoFactorSetup(code: $code) {{ ok {ERRORS} }} }}"
    code = pyotp.TOTP(setup["secret"]).now()
    confirmed = await gql(api, confirm, {"code": code}, token=holder)
    assert confirmed["data"]["confirmTwoFactorSetup"] == {"ok": True, "errors": []}

    assert [e["code"] for e in (await log_in(api, PASSWORD))["errors"]] == ["TOTP_REQUIRED"]
    # Staff cannot turn it on, nor read the secret: there is no field for either.
    variables = {"client": gid("Client", client.id)}
    update = """mutation($client: ID!) { updateClient(id: $client,
      input: {twoFactorEnabled: true}) { client { id } } }"""
    refused = await gql(api, update, variables, token=admin_token, allow_errors=True)
    assert refused.get("data") is None and refused["errors"]
    again = await gql(api, begin, token=holder)
    assert again["data"]["beginTwoFactorSetup"]["secret"] is None

    disable = f"""mutation($client: ID!) {{ disableClientTwoFactor(id: $client) {{
      client {{ twoFactorEnabled }} {ERRORS} }} }}"""
    body = await gql(api, disable, variables, token=admin_token)
    assert body["data"]["disableClientTwoFactor"] == {
        "client": {"twoFactorEnabled": False},
        "errors": [],
    }
    assert (await log_in(api, PASSWORD))["errors"] == []
