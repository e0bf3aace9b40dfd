"""Two-factor login for every login kind (SPEC 11.2): TOTP set up the same way by staff,
account holders and sub-accounts, single-use recovery codes, turning it off (one's own with a
code, anyone's by staff), and the general setting requireStaffTwoFactor."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pyotp
import pytest

from domain.auth import sessions
from domain.auth.permissions import StaffRole
from tests.api.test_cards import reveal, save_card
from tests.api.test_sub_accounts import PASSWORD, add_sub_account
from tests.conftest import LOGIN, add_client, gid, gql, turn_on_two_factor

TTL = timedelta(hours=1)
ERRORS = "errors { field code message }"
BEGIN = f"mutation {{ beginTwoFactorSetup {{ secret otpauthUri {ERRORS} }} }}"
CONFIRM = f"""mutation Confirm($code: String!) {{
  confirmTwoFactorSetup(code: $code) {{ ok recoveryCodes {ERRORS} }} }}"""
DISABLE_MINE = f"""mutation DisableMine($code: String!) {{
  disableMyTwoFactor(code: $code) {{ ok {ERRORS} }} }}"""
REGENERATE = f"""mutation Regenerate($code: String!) {{
  regenerateRecoveryCodes(code: $code) {{ recoveryCodes {ERRORS} }} }}"""
DISABLE = f"""mutation Disable($clientId: ID, $contactId: ID, $staffId: ID) {{
  disableTwoFactor(clientId: $clientId, contactId: $contactId, staffId: $staffId) {{
    ok {ERRORS} }} }}"""
SETTINGS = f"""mutation Require($on: Boolean!) {{
  updateGeneralSettings(input: {{requireStaffTwoFactor: $on}}) {{
    settings {{ requireStaffTwoFactor }} {ERRORS} }} }}"""
CLIENTS = "query { clients(first: 1) { totalCount } }"
SUB_EMAIL = "sub@example.com"


def next_code(secret: str) -> str:
    """The authenticator's code of the next 30-second step (accepted for clock drift): one
    that a setup confirmed with the current code has not spent."""
    return pyotp.TOTP(secret).at(time.time() + 30)


async def set_up(api: httpx.AsyncClient, token: str) -> tuple[str, list[str]]:
    """Turn two-factor on through the API; the secret and the recovery codes."""
    begun = (await gql(api, BEGIN, token=token))["data"]["beginTwoFactorSetup"]
    assert begun["errors"] == [], begun
    confirmed = await mutate(api, CONFIRM, token, code=pyotp.TOTP(begun["secret"]).now())
    assert confirmed["ok"] is True and confirmed["errors"] == [], confirmed
    codes: list[str] = confirmed["recoveryCodes"]
    return begun["secret"], codes


async def mutate(api: httpx.AsyncClient, document: str, token: str, **variables: Any) -> Any:
    body = await gql(api, document, variables, token=token)
    [payload] = body["data"].values()
    return payload


async def log_in(
    api: httpx.AsyncClient, email: str, password: str, code: str | None = None
) -> dict[str, Any]:
    body = await gql(api, LOGIN, {"email": email, "password": password, "totpCode": code})
    payload: dict[str, Any] = body["data"]["login"]
    return payload


def codes_of(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["errors"]]


async def staff_session(
    conn: asyncpg.Connection,
    email: str,
    *,
    role: StaffRole = StaffRole.ADMIN,
    two_factor_passed: bool = False,
) -> tuple[int, str]:
    """A staff member (no password) and a session of it; (staff id, token)."""
    login_id = await conn.fetchval("INSERT INTO logins (email) VALUES ($1) RETURNING id", email)
    staff_id = await conn.fetchval(
        """INSERT INTO staff (login_id, first_name, last_name, role)
           VALUES ($1, 'Sam', 'Staff', $2) RETURNING id""",
        login_id,
        role.value,
    )
    token = await sessions.start_session(
        conn, login_id, ttl=TTL, two_factor_passed=two_factor_passed
    )
    return staff_id, token


async def totp_enabled(conn: asyncpg.Connection, email: str) -> bool:
    return bool(await conn.fetchval("SELECT totp_enabled FROM logins WHERE email = $1", email))


async def test_11_2_staff_set_up_two_factor_and_then_log_in_with_a_code(
    api: httpx.AsyncClient, make_staff: Any
) -> None:
    token = await make_staff(StaffRole.SUPPORT, "sue@staff.example.com")
    secret, codes = await set_up(api, token)
    assert len(codes) == 10 and len(set(codes)) == 10

    refused = await log_in(api, "sue@staff.example.com", "staff-password-1")
    assert codes_of(refused) == ["TOTP_REQUIRED"] and refused["token"] is None
    payload = await log_in(api, "sue@staff.example.com", "staff-password-1", next_code(secret))
    assert payload["errors"] == [] and payload["viewer"]["kind"] == "STAFF"


@pytest.mark.parametrize("who", ["holder", "sub_account"])
async def test_11_2_account_holders_and_sub_accounts_set_up_two_factor_the_same_way(
    api: httpx.AsyncClient, conn: asyncpg.Connection, who: str
) -> None:
    client = await add_client(conn, email="joe@example.com", password=PASSWORD)
    if who == "holder":
        email = "joe@example.com"
        token = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    else:
        email, token = SUB_EMAIL, (await add_sub_account(conn, client.id, SUB_EMAIL)).token
    secret, codes = await set_up(api, token)
    assert len(codes) == 10

    assert codes_of(await log_in(api, email, PASSWORD)) == ["TOTP_REQUIRED"]
    assert (await log_in(api, email, PASSWORD, next_code(secret)))["errors"] == []
    assert (await log_in(api, email, PASSWORD, codes[0]))["errors"] == []


async def test_11_2_a_recovery_code_logs_in_once_and_is_stored_only_hashed(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client = await add_client(conn, email="joe@example.com", password=PASSWORD)
    _, codes = await set_up(api, await sessions.start_session(conn, client.owner_login_id, ttl=TTL))
    stored = await conn.fetchrow(
        "SELECT salt, code_hashes FROM recovery_codes WHERE login_id = $1", client.owner_login_id
    )
    assert len(stored["code_hashes"]) == 10
    assert not any(code.replace("-", "").encode() in bytes(stored["salt"]) for code in codes)
    assert all(len(digest) == 32 for digest in stored["code_hashes"])

    first = await log_in(api, "joe@example.com", PASSWORD, codes[0])
    assert first["errors"] == [] and first["token"]
    again = await log_in(api, "joe@example.com", PASSWORD, codes[0])
    assert codes_of(again) == ["INVALID_CREDENTIALS"] and again["token"] is None
    # As people type it: case, spaces and dashes do not matter.
    typed = codes[1].replace("-", " ").upper()
    assert (await log_in(api, "joe@example.com", PASSWORD, typed))["errors"] == []
    left = await conn.fetchval(
        "SELECT cardinality(code_hashes) FROM recovery_codes WHERE login_id = $1",
        client.owner_login_id,
    )
    assert left == 8


async def test_11_2_wrong_codes_are_refused_and_change_nothing(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client = await add_client(conn, email="joe@example.com", password=PASSWORD)
    token = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    secret, codes = await set_up(api, token)
    wrong_totp = f"{(int(pyotp.TOTP(secret).now()) + 5) % 1_000_000:06d}"
    made_up = "aaaa-bbbb-cccc-dddd"
    # Four wrong codes: each counts as a failed login, and the tests' threshold is five.
    for wrong in (wrong_totp, made_up):
        payload = await log_in(api, "joe@example.com", PASSWORD, wrong)
        assert codes_of(payload) == ["INVALID_CREDENTIALS"] and payload["token"] is None
    for document, wrong in ((DISABLE_MINE, made_up), (REGENERATE, wrong_totp)):
        payload = await mutate(api, document, token, code=wrong)
        assert codes_of(payload) == ["INVALID_CREDENTIALS"], payload
        assert payload["errors"][0]["field"] == "code"
    assert await totp_enabled(conn, "joe@example.com")
    # The codes given at the setup still all work: none was replaced or spent.
    assert (await log_in(api, "joe@example.com", PASSWORD, codes[9]))["errors"] == []


async def test_11_2_an_authenticator_code_is_still_good_only_once(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client = await add_client(conn, email="joe@example.com", password=PASSWORD)
    token = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    begun = (await gql(api, BEGIN, token=token))["data"]["beginTwoFactorSetup"]
    confirming = pyotp.TOTP(begun["secret"]).now()
    assert (await mutate(api, CONFIRM, token, code=confirming))["ok"] is True
    # The code that confirmed the setup cannot log in, nor one that logged in already.
    replayed = await log_in(api, "joe@example.com", PASSWORD, confirming)
    assert codes_of(replayed) == ["INVALID_CREDENTIALS"]
    code = next_code(begun["secret"])
    assert (await log_in(api, "joe@example.com", PASSWORD, code))["errors"] == []
    assert codes_of(await log_in(api, "joe@example.com", PASSWORD, code)) == ["INVALID_CREDENTIALS"]


async def test_11_2_turning_ones_own_two_factor_off_needs_a_valid_code(
    api: httpx.AsyncClient, make_staff: Any, conn: asyncpg.Connection
) -> None:
    token = await make_staff(StaffRole.BILLING, "bill@staff.example.com")
    secret, codes = await set_up(api, token)
    refused = await mutate(api, DISABLE_MINE, token, code="000000")
    assert codes_of(refused) == ["INVALID_CREDENTIALS"] and refused["ok"] is False
    assert await totp_enabled(conn, "bill@staff.example.com")

    assert (await mutate(api, DISABLE_MINE, token, code=next_code(secret)))["ok"] is True
    assert not await totp_enabled(conn, "bill@staff.example.com")
    assert await conn.fetchval("SELECT count(*) FROM recovery_codes") == 0
    payload = await log_in(api, "bill@staff.example.com", "staff-password-1")
    assert payload["errors"] == []
    # Off already: there is nothing to turn off, whatever the code.
    assert codes_of(await mutate(api, DISABLE_MINE, token, code=codes[0])) == ["CONFLICT"]


async def test_11_2_a_recovery_code_also_turns_ones_own_two_factor_off(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client = await add_client(conn, email="joe@example.com")
    sub = await add_sub_account(conn, client.id, SUB_EMAIL)
    _, codes = await set_up(api, sub.token)
    assert (await mutate(api, DISABLE_MINE, sub.token, code=codes[3]))["ok"] is True
    assert not await totp_enabled(conn, SUB_EMAIL)


async def test_11_2_new_recovery_codes_replace_the_old_ones(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client = await add_client(conn, email="joe@example.com", password=PASSWORD)
    token = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    _, old = await set_up(api, token)
    payload = await mutate(api, REGENERATE, token, code=old[0])
    assert payload["errors"] == [] and len(payload["recoveryCodes"]) == 10
    new = payload["recoveryCodes"]
    assert not set(new) & set(old)
    assert codes_of(await log_in(api, "joe@example.com", PASSWORD, old[1])) == [
        "INVALID_CREDENTIALS"
    ]
    assert (await log_in(api, "joe@example.com", PASSWORD, new[0]))["errors"] == []


async def test_11_2_staff_turn_off_a_sub_accounts_two_factor_audited(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client = await add_client(conn, email="joe@example.com")
    sub = await add_sub_account(conn, client.id, SUB_EMAIL)
    await set_up(api, sub.token)
    staff_id, admin = await staff_session(conn, "admin@staff.example.com")

    payload = await mutate(api, DISABLE, admin, contactId=sub.contact_id)
    assert payload == {"ok": True, "errors": []}
    assert not await totp_enabled(conn, SUB_EMAIL)
    assert (await log_in(api, SUB_EMAIL, PASSWORD))["errors"] == []
    entry = await conn.fetchrow(
        "SELECT staff_id, client_id, changes FROM audit_log WHERE action = $1",
        "contact.two_factor_disabled",
    )
    assert (entry["staff_id"], entry["client_id"]) == (staff_id, client.id)
    assert entry["changes"]["twoFactorEnabled"] == {"from": True, "to": False}


async def test_11_2_staff_turn_off_a_staff_members_and_an_account_holders_two_factor(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client = await add_client(conn, email="joe@example.com")
    await turn_on_two_factor(conn, "joe@example.com")
    other_id, _ = await staff_session(conn, "other@staff.example.com")
    await turn_on_two_factor(conn, "other@staff.example.com")
    _, admin = await staff_session(conn, "admin@staff.example.com")

    assert (await mutate(api, DISABLE, admin, staffId=gid("Staff", other_id)))["ok"] is True
    assert (await mutate(api, DISABLE, admin, clientId=gid("Client", client.id)))["ok"] is True
    assert not await totp_enabled(conn, "other@staff.example.com")
    assert not await totp_enabled(conn, "joe@example.com")
    actions = await conn.fetch(
        "SELECT action, changes FROM audit_log WHERE action LIKE '%two_factor%' ORDER BY id"
    )
    assert [row["action"] for row in actions] == [
        "staff.two_factor_disabled",
        "client.two_factor_disabled",
    ]
    assert actions[0]["changes"]["staffId"] == other_id


@pytest.mark.parametrize("given", [(), ("clientId", "staffId")])
async def test_disable_two_factor_takes_exactly_one_id(
    api: httpx.AsyncClient, conn: asyncpg.Connection, given: tuple[str, ...]
) -> None:
    client = await add_client(conn, email="joe@example.com")
    await turn_on_two_factor(conn, "joe@example.com")
    staff_id, admin = await staff_session(conn, "admin@staff.example.com")
    ids = {"clientId": gid("Client", client.id), "staffId": gid("Staff", staff_id)}
    payload = await mutate(api, DISABLE, admin, **{name: ids[name] for name in given})
    assert codes_of(payload) == ["INVALID"] and payload["ok"] is False
    assert await totp_enabled(conn, "joe@example.com")
    assert not await conn.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE '%two_f%'")


async def test_11_2_required_staff_two_factor_leaves_a_session_without_it_only_the_setup(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    _, admin = await staff_session(conn, "admin@staff.example.com")
    assert (await gql(api, CLIENTS, token=admin))["data"]["clients"]["totalCount"] == 0
    turned_on = await mutate(api, SETTINGS, admin, on=True)
    assert turned_on["settings"] == {"requireStaffTwoFactor": True}

    # This very session passed no second factor: everything else is refused it now.
    for document in (CLIENTS, "query { generalSettings { requireStaffTwoFactor } }"):
        body = await gql(api, document, token=admin, allow_errors=True)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["TWO_FACTOR_REQUIRED"]
        assert "beginTwoFactorSetup" in body["errors"][0]["message"]
    body = await gql(api, SETTINGS, {"on": False}, token=admin, allow_errors=True)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["TWO_FACTOR_REQUIRED"]
    viewer = await gql(api, "query { viewer { kind twoFactorPassed } }", token=admin)
    assert viewer["data"]["viewer"] == {"kind": "STAFF", "twoFactorPassed": False}
    file_download = await api.get(
        "/files/" + gid("ClientFile", 1), headers={"Authorization": f"Bearer {admin}"}
    )
    assert file_download.status_code == 403
    assert file_download.json()["errors"][0]["extensions"]["code"] == "TWO_FACTOR_REQUIRED"

    # Setting it up is allowed, and the session that confirms it has passed it.
    await set_up(api, admin)
    assert (await gql(api, CLIENTS, token=admin))["data"]["clients"]["totalCount"] == 0
    # The client area is not concerned by a setting about staff.
    client = await add_client(conn, email="joe@example.com")
    holder = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    me = await gql(api, "query { me { email } }", token=holder)
    assert me["data"]["me"] == {"email": "joe@example.com"}


async def test_11_2_card_numbers_are_revealed_only_to_staff_sessions_that_passed_two_factor(
    api: httpx.AsyncClient, conn: asyncpg.Connection, make_staff: Any
) -> None:
    _, admin = await staff_session(conn, "admin@staff.example.com", two_factor_passed=True)
    client = await add_client(conn, email="joe@example.com")
    client_id = gid("Client", client.id)
    assert (await save_card(api, admin, client_id))["errors"] == []
    assert (await mutate(api, SETTINGS, admin, on=True))["errors"] == []

    # A member with two-factor on, in a session opened without it (before it was on).
    token = await make_staff(StaffRole.ADMIN, "carol@staff.example.com")
    secret = await turn_on_two_factor(conn, "carol@staff.example.com")
    body = await gql(
        api,
        "mutation { revealCardNumber(clientId: "
        f'"{client_id}", encryptionSecret: "test-card-secret") {{ number }} }}',
        token=token,
        allow_errors=True,
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["TWO_FACTOR_REQUIRED"]
    assert "4111111111111111" not in str(body)

    again = await log_in(api, "carol@staff.example.com", "staff-password-1", next_code(secret))
    assert again["errors"] == []
    shown = await reveal(api, again["token"], client_id, "test-card-secret")
    assert shown["number"] == "4111111111111111"
