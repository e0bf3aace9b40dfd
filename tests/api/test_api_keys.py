"""SPEC 11.3 through the API: API keys made by staff with MANAGE_STAFF, sent as bearer
tokens, acting with their role's permissions less those no key holds, stored hashed, shown
once, revocable, rate-limited across API processes and audited as themselves. Who may call
each field is the authorisation matrix's (tests/api/test_authz_matrix.py)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from app.settings import Settings
from app.web import create_app
from domain.auth.permissions import StaffPermission, StaffRole
from tests.api.test_staff_admin import payload, role_id
from tests.conftest import CountedApi, add_client, gid, gql, pk

ERRORS = "errors { field code message }"
KEY = "id name prefix role { name } createdAt lastUsedAt expiresAt"
CREATE = f"""mutation($input: CreateApiKeyInput!) {{
  createApiKey(input: $input) {{ apiKey {{ {KEY} }} secret {ERRORS} }} }}"""
REVOKE = f"mutation($id: ID!) {{ revokeApiKey(id: $id) {{ ok {ERRORS} }} }}"
KEYS = f"query {{ apiKeys {{ {KEY} }} }}"
VIEWER = "query { viewer { kind email staffRole permissions } }"
CLIENTS = "query { clients(first: 1) { totalCount } }"
REQUIRE_TWO_FACTOR = """mutation {
  updateGeneralSettings(input: {requireStaffTwoFactor: true}) { errors { code } } }"""
SAVE_ROLE = f"""mutation($input: StaffRoleInput!) {{
  saveStaffRole(input: $input) {{ role {{ id }} {ERRORS} }} }}"""


async def make_key(
    api: httpx.AsyncClient, admin: str, role: str, **fields: Any
) -> tuple[dict[str, Any], str]:
    """A new key of `admin`'s with the built-in or custom role named `role`: (key, secret)."""
    made = await payload(
        api, admin, CREATE, input={"name": "Dashboard", "roleId": await role_id(api, admin, role)}
    )
    assert made["errors"] == [], made["errors"]
    return made["apiKey"], made["secret"]


def first_error(body: dict[str, Any]) -> str:
    code: str = body["errors"][0]["extensions"]["code"]
    return code


async def test_11_3_a_key_is_shown_once_and_acts_with_its_role(
    api: httpx.AsyncClient, admin_token: str
) -> None:
    key, secret = await make_key(api, admin_token, "BILLING")
    assert secret.startswith(f"cdk_{key['prefix']}_") and len(secret) > 50
    assert key["role"] == {"name": "BILLING"} and key["lastUsedAt"] is None

    api.cookies.clear()  # the key alone, not the admin's session cookie
    viewer = (await gql(api, VIEWER, token=secret))["data"]["viewer"]
    assert viewer["kind"] == "API_KEY" and viewer["staffRole"] == "BILLING"
    assert viewer["email"] == "admin@staff.example.com"  # the member it acts for
    assert (await gql(api, CLIENTS, token=secret))["data"]["clients"]["totalCount"] == 0

    listed = (await gql(api, KEYS, token=admin_token))["data"]["apiKeys"]
    assert [k["id"] for k in listed] == [key["id"]] and listed[0]["lastUsedAt"] is not None
    assert "secret" not in listed[0]


async def test_11_3_a_key_never_administers_staff_keys_or_login_security_nor_reveals_cards(
    api: httpx.AsyncClient, conn: asyncpg.Connection, admin_token: str
) -> None:
    everything = [p.value for p in StaffPermission]
    saved = await payload(
        api, admin_token, SAVE_ROLE, input={"name": "All", "permissions": everything}
    )
    assert saved["errors"] == []
    _, secret = await make_key(api, admin_token, "All")
    client = await add_client(conn)
    api.cookies.clear()

    permissions = (await gql(api, VIEWER, token=secret))["data"]["viewer"]["permissions"]
    never = {"MANAGE_STAFF", "MANAGE_LOGIN_SECURITY"}
    assert set(permissions) == set(everything) - never
    refused = [
        "query { staffMembers { edges { cursor } } }",
        KEYS,
        f'mutation {{ createApiKey(input: {{name: "x", roleId: "{saved["role"]["id"]}"}}) '
        "{ secret } }",
        f'mutation {{ revealCardNumber(clientId: "{gid("Client", client.id)}", '
        'encryptionSecret: "test-card-secret") { number } }',
        f'mutation {{ disableTwoFactor(clientId: "{gid("Client", client.id)}") {{ ok }} }}',
        'mutation { changeMyPassword(currentPassword: "a", newPassword: "b") { ok } }',
        "mutation { beginTwoFactorSetup { secret } }",
    ]
    for document in refused:
        body = await gql(api, document, token=secret, allow_errors=True)
        assert first_error(body) == "FORBIDDEN", document


async def test_11_3_last_used_is_written_at_most_once_a_minute(
    counted_api: CountedApi, api: httpx.AsyncClient, conn: asyncpg.Connection, admin_token: str
) -> None:
    _, secret = await make_key(api, admin_token, "READ_ONLY")

    def updates() -> int:
        return sum("UPDATE api_keys" in s for s in counted_api.statements)

    await counted_api.count(CLIENTS, {}, secret)
    assert updates() == 1
    written = await conn.fetchrow("SELECT last_used_at, xmin::text FROM api_keys")
    assert written["last_used_at"] is not None
    await counted_api.count(CLIENTS, {}, secret)
    assert updates() == 0  # this process wrote it less than a minute ago
    # Another process (`api`, its own app) tries, and the statement writes nothing.
    api.cookies.clear()
    await gql(api, CLIENTS, token=secret)
    assert await conn.fetchrow("SELECT last_used_at, xmin::text FROM api_keys") == written
    listed = (await gql(api, KEYS, token=admin_token))["data"]["apiKeys"]
    assert [k["lastUsedAt"] is not None for k in listed] == [True]


async def test_11_3_a_revoked_key_is_refused_at_once(
    api: httpx.AsyncClient, admin_token: str
) -> None:
    key, secret = await make_key(api, admin_token, "SUPPORT")
    await gql(api, CLIENTS, token=secret)
    assert (await payload(api, admin_token, REVOKE, id=key["id"]))["ok"] is True
    api.cookies.clear()
    assert first_error(await gql(api, CLIENTS, token=secret, allow_errors=True)) == (
        "UNAUTHENTICATED"
    )
    assert (await gql(api, KEYS, token=admin_token))["data"]["apiKeys"] == []
    again = await payload(api, admin_token, REVOKE, id=key["id"])
    assert [e["code"] for e in again["errors"]] == ["NOT_FOUND"]


async def test_11_1_disabling_a_member_stops_its_keys_at_once(
    api: httpx.AsyncClient, conn: asyncpg.Connection, make_staff: Any, admin_token: str
) -> None:
    other = await make_staff(StaffRole.ADMIN, "other@staff.example.com")
    _, secret = await make_key(api, other, "SUPPORT")
    await gql(api, CLIENTS, token=secret)
    staff_id = await conn.fetchval(
        "SELECT st.id FROM staff st JOIN logins l ON l.id = st.login_id WHERE l.email = $1",
        "other@staff.example.com",
    )
    disabled = await payload(
        api,
        admin_token,
        "mutation($id: ID!) { disableStaff(id: $id) { errors { code } } }",
        id=gid("Staff", staff_id),
    )
    assert disabled["errors"] == []
    api.cookies.clear()
    assert first_error(await gql(api, CLIENTS, token=secret, allow_errors=True)) == (
        "UNAUTHENTICATED"
    )
    # Revoked, not merely suspended: enabling the member again does not bring it back.
    await payload(
        api,
        admin_token,
        "mutation($id: ID!) { enableStaff(id: $id) { errors { code } } }",
        id=gid("Staff", staff_id),
    )
    api.cookies.clear()
    assert first_error(await gql(api, CLIENTS, token=secret, allow_errors=True)) == (
        "UNAUTHENTICATED"
    )


async def test_11_3_an_expired_key_is_refused(
    api: httpx.AsyncClient, conn: asyncpg.Connection, admin_token: str
) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = await payload(
        api,
        admin_token,
        CREATE,
        input={
            "name": "Short",
            "roleId": await role_id(api, admin_token, "SUPPORT"),
            "expiresAt": soon,
        },
    )
    secret = made["secret"]
    api.cookies.clear()
    await gql(api, CLIENTS, token=secret)
    await conn.execute("UPDATE api_keys SET expires_at = now() - interval '1 second'")
    assert first_error(await gql(api, CLIENTS, token=secret, allow_errors=True)) == (
        "UNAUTHENTICATED"
    )

    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    refused = await payload(
        api,
        admin_token,
        CREATE,
        input={
            "name": "Late",
            "roleId": await role_id(api, admin_token, "SUPPORT"),
            "expiresAt": past,
        },
    )
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("expiresAt", "INVALID")]
    assert await conn.fetchval("SELECT count(*) FROM api_keys") == 1


async def test_11_3_the_secret_is_stored_only_hashed(
    api: httpx.AsyncClient, conn: asyncpg.Connection, admin_token: str
) -> None:
    _, secret = await make_key(api, admin_token, "SUPPORT")
    row = await conn.fetchrow("SELECT * FROM api_keys")
    stored = " ".join(str(value) for value in row.values())
    random_part = secret.rsplit("_", 1)[1]
    assert secret not in stored and random_part not in stored
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).digest()


async def test_11_3_an_audit_entry_made_by_a_key_names_it(
    api: httpx.AsyncClient, conn: asyncpg.Connection, admin_token: str
) -> None:
    key, secret = await make_key(api, admin_token, "SUPPORT")
    client = await add_client(conn)
    api.cookies.clear()
    changed = await gql(
        api,
        'mutation($id: ID!) { updateClient(id: $id, input: {notes: "VIP"}) { errors { code } } }',
        {"id": gid("Client", client.id)},
        token=secret,
    )
    assert changed["data"]["updateClient"]["errors"] == []
    entry = await conn.fetchrow(
        "SELECT staff_id, api_key_id FROM audit_log WHERE action = 'client.updated'"
    )
    assert entry["api_key_id"] == pk(key["id"], "ApiKey") and entry["staff_id"] is not None
    log = await gql(
        api,
        "query { auditLog(first: 5) { edges { node { action staff apiKey apiKeyId } } } }",
        token=admin_token,
    )
    nodes = [e["node"] for e in log["data"]["auditLog"]["edges"]]
    [by_key] = [n for n in nodes if n["action"] == "client.updated"]
    assert by_key == {
        "action": "client.updated",
        "staff": "Sam Staff",
        "apiKey": "Dashboard",
        "apiKeyId": key["id"],
    }
    # The staff member's own changes name no key.
    assert (
        await conn.fetchval("SELECT api_key_id FROM audit_log WHERE action = 'api_key.created'")
        is None
    )


async def test_11_2_required_staff_two_factor_does_not_restrict_api_keys(
    api: httpx.AsyncClient, admin_token: str
) -> None:
    _, secret = await make_key(api, admin_token, "SUPPORT")
    turned_on = await payload(api, admin_token, REQUIRE_TWO_FACTOR)
    assert turned_on["errors"] == []
    api.cookies.clear()
    staff_body = await gql(api, CLIENTS, token=admin_token, allow_errors=True)
    assert first_error(staff_body) == "TWO_FACTOR_REQUIRED"  # the setting is on
    api.cookies.clear()
    assert (await gql(api, CLIENTS, token=secret))["data"]["clients"]["totalCount"] == 0


@pytest.fixture
async def two_apps(
    settings: Settings, pool: asyncpg.Pool
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Two API processes' apps with their own pools, sharing Redis, limited to 3 requests a
    key a minute."""
    limited = settings.model_copy(update={"api_key_rate_limit": 3})
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(2):
            app = create_app(limited)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            )
            clients.append(await stack.enter_async_context(client))
        yield clients


async def test_11_3_a_key_over_its_rate_limit_gets_429_on_every_process(
    two_apps: list[httpx.AsyncClient], admin_token: str
) -> None:
    first, second = two_apps
    _, secret = await make_key(first, admin_token, "SUPPORT")
    headers = {"Authorization": f"Bearer {secret}"}
    for api in (first, second, first):
        api.cookies.clear()
        response = await api.post("/graphql", json={"query": CLIENTS}, headers=headers)
        assert response.status_code == 200, response.text
    over = await second.post("/graphql", json={"query": CLIENTS}, headers=headers)
    assert over.status_code == 429
    assert 1 <= int(over.headers["retry-after"]) <= 60
    assert over.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    # Staff sessions are not counted against it.
    assert (await gql(first, CLIENTS, token=admin_token))["data"]["clients"]["totalCount"] == 0


async def test_11_1_a_role_a_key_in_use_holds_cannot_be_deleted(
    api: httpx.AsyncClient, conn: asyncpg.Connection, admin_token: str
) -> None:
    saved = await payload(
        api, admin_token, SAVE_ROLE, input={"name": "Reader", "permissions": ["VIEW_CLIENTS"]}
    )
    role = saved["role"]["id"]
    key, _ = await make_key(api, admin_token, "Reader")
    delete = "mutation($id: ID!) { deleteStaffRole(id: $id) { ok errors { code } } }"
    refused = await payload(api, admin_token, delete, id=role)
    assert refused == {"ok": False, "errors": [{"code": "CONFLICT"}]}

    await payload(api, admin_token, REVOKE, id=key["id"])
    assert (await payload(api, admin_token, delete, id=role))["ok"] is True
    assert await conn.fetchval("SELECT count(*) FROM api_keys") == 0
