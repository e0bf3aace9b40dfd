"""SPEC 11.1–11.3 end to end, as a new operator meets them: an admin invites a billing
member, who sets a password from the emailed link, turns two-factor on, logs in with a code
and then with a recovery code, and makes an API key for a dashboard; the admin disables the
member, and the member's open session and key stop working on their next request."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from tests.api.test_api_keys import CLIENTS, CREATE, SAVE_ROLE, first_error
from tests.api.test_staff_admin import (
    ACCEPT,
    DISABLE,
    ROLES,
    invite_billing,
    link_token,
    payload,
    role_id,
)
from tests.api.test_two_factor import codes_of, log_in, next_code, set_up
from tests.conftest import Services, gql

PASSWORD = "billing-password-1"
VIEWER = "query { viewer { kind email staffRole } }"


async def billing_lead_role(api: httpx.AsyncClient, admin: str) -> str:
    """A custom role: what BILLING may do, and making the team's integration keys."""
    roles = (await gql(api, ROLES, token=admin))["data"]["staffRoles"]
    [billing] = [role["permissions"] for role in roles if role["name"] == "BILLING"]
    saved = await payload(
        api,
        admin,
        SAVE_ROLE,
        input={"name": "Billing lead", "permissions": [*billing, "MANAGE_STAFF"]},
    )
    assert saved["errors"] == []
    return str(saved["role"]["id"])


async def test_11_an_invited_billing_member_uses_two_factor_and_stops_at_once_when_disabled(
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    services: Services,
    run_worker: Any,
    admin_token: str,
) -> None:
    # The admin invites the member; the worker emails the set-password link.
    member = await invite_billing(api, admin_token)
    updated = await payload(
        api,
        admin_token,
        """mutation($id: ID!, $input: UpdateStaffInput!) {
          updateStaff(id: $id, input: $input) { staff { role { name } } errors { code } } }""",
        id=member["id"],
        input={"roleId": await billing_lead_role(api, admin_token)},
    )
    assert updated == {"staff": {"role": {"name": "Billing lead"}}, "errors": []}
    await run_worker()
    token = link_token(services.mail.messages[-1], "invitation")
    assert (await payload(api, None, ACCEPT, token=token, password=PASSWORD))["ok"] is True

    # The member logs in with the password alone and turns two-factor on.
    first = await log_in(api, member["email"], PASSWORD)
    assert first["errors"] == [] and first["token"]
    secret, recovery_codes = await set_up(api, first["token"])
    assert len(recovery_codes) == 10

    # From now on the password alone is not enough; a code is, and so is a recovery code, once.
    api.cookies.clear()
    without = await log_in(api, member["email"], PASSWORD)
    assert without["token"] is None and codes_of(without) == ["TOTP_REQUIRED"]
    with_code = await log_in(api, member["email"], PASSWORD, next_code(secret))
    assert with_code["errors"] == [] and with_code["token"]
    with_recovery = await log_in(api, member["email"], PASSWORD, recovery_codes[0])
    assert with_recovery["errors"] == [] and with_recovery["token"]
    spent = await log_in(api, member["email"], PASSWORD, recovery_codes[0])
    assert spent["token"] is None
    session = with_code["token"]
    viewer = (await gql(api, VIEWER, token=session))["data"]["viewer"]
    assert viewer == {"kind": "STAFF", "email": member["email"], "staffRole": "Billing lead"}

    # The member makes a key for a dashboard, with the built-in BILLING role.
    made = await payload(
        api,
        session,
        CREATE,
        input={"name": "Billing board", "roleId": await role_id(api, session, "BILLING")},
    )
    assert made["errors"] == []
    key = made["secret"]
    api.cookies.clear()
    assert (await gql(api, CLIENTS, token=key))["data"]["clients"]["totalCount"] == 0

    # The admin disables the member: its session and its key are refused on the next request.
    disabled = await payload(api, admin_token, DISABLE, id=member["id"])
    assert disabled["errors"] == [] and disabled["staff"]["disabled"] is True
    api.cookies.clear()
    assert (await gql(api, VIEWER, token=session))["data"]["viewer"] is None
    refused = await gql(api, CLIENTS, token=session, allow_errors=True)
    assert first_error(refused) == "UNAUTHENTICATED"
    api.cookies.clear()
    assert first_error(await gql(api, CLIENTS, token=key, allow_errors=True)) == "UNAUTHENTICATED"
    assert (await log_in(api, member["email"], PASSWORD, next_code(secret)))["token"] is None
    actions = [r["action"] for r in await conn.fetch("SELECT action FROM audit_log ORDER BY id")]
    assert {"staff.invited", "staff.disabled", "api_key.created"} <= set(actions)
