"""SPEC 11.1 through the API, the worker and SMTP: staff administration by members holding
MANAGE_STAFF. Who may call each field is the authorisation matrix's
(tests/api/test_authz_matrix.py); here, what each does and what each refuses.
"""

from __future__ import annotations

import re
from email.message import Message
from typing import Any

import asyncpg
import httpx

from domain.auth.permissions import StaffRole
from domain.settings import PasswordResetMode, update_general_settings
from tests.conftest import LOGIN, STAFF_PASSWORD, Services, gid, gql, login

ERRORS = "errors { field code message }"
MEMBER = "id email firstName lastName role { name permissions builtIn } disabled invitationPending"
INVITE = f"""mutation($input: InviteStaffInput!) {{
  inviteStaff(input: $input) {{ staff {{ {MEMBER} }} {ERRORS} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: UpdateStaffInput!) {{
  updateStaff(id: $id, input: $input) {{ staff {{ {MEMBER} }} {ERRORS} }} }}"""
DISABLE = f"mutation($id: ID!) {{ disableStaff(id: $id) {{ staff {{ {MEMBER} }} {ERRORS} }} }}"
ENABLE = f"mutation($id: ID!) {{ enableStaff(id: $id) {{ staff {{ {MEMBER} }} {ERRORS} }} }}"
RESET = f"mutation($id: ID!) {{ resetStaffPassword(id: $id) {{ ok {ERRORS} }} }}"
ACCEPT = f"""mutation($token: String!, $password: String!) {{
  acceptInvitation(token: $token, password: $password) {{ ok {ERRORS} }} }}"""
CONFIRM_RESET = f"""mutation($token: String!, $password: String) {{
  confirmPasswordReset(token: $token, newPassword: $password) {{ ok {ERRORS} }} }}"""
ROLES = "query { staffRoles { id name permissions builtIn } }"
MEMBERS = f"""query($all: Boolean!) {{
  staffMembers(first: 50, includeDisabled: $all) {{ edges {{ node {{ {MEMBER} }} }} }} }}"""
VIEWER = "query { viewer { kind staffRole permissions } }"
NEW_PASSWORD = "billing-password-1"


async def payload(
    api: httpx.AsyncClient, session: str | None, query: str, **variables: Any
) -> dict[str, Any]:
    if session is None:  # anonymous: not as whoever logged in last (its cookie)
        api.cookies.clear()
    body = await gql(api, query, variables, token=session)
    [result] = body["data"].values()
    assert isinstance(result, dict)
    return result


def refusals(result: dict[str, Any]) -> set[tuple[str | None, str]]:
    return {(e["field"], e["code"]) for e in result["errors"]}


async def role_id(api: httpx.AsyncClient, token: str, name: str) -> str:
    roles = (await gql(api, ROLES, token=token))["data"]["staffRoles"]
    [found] = [r["id"] for r in roles if r["name"] == name]
    return str(found)


async def own_id(conn: asyncpg.Connection, email: str) -> str:
    staff_id = await conn.fetchval(
        "SELECT st.id FROM staff st JOIN logins l ON l.id = st.login_id WHERE l.email = $1", email
    )
    return gid("Staff", staff_id)


def link_token(message: Message, route: str) -> str:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    body = part.get_payload(decode=True)
    assert isinstance(body, bytes)
    [token] = re.findall(rf"/{route}/([A-Za-z0-9_-]+)", body.decode())
    return token


async def log_in(api: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    result: dict[str, Any] = (await gql(api, LOGIN, {"email": email, "password": password}))[
        "data"
    ]["login"]
    return result


async def invite_billing(api: httpx.AsyncClient, admin: str) -> dict[str, Any]:
    invited = await payload(
        api,
        admin,
        INVITE,
        input={
            "email": "bea@Staff.EXAMPLE.com",
            "firstName": "Bea",
            "lastName": "Billing",
            "roleId": await role_id(api, admin, "BILLING"),
        },
    )
    assert invited["errors"] == []
    return dict(invited["staff"])


async def audited(conn: asyncpg.Connection) -> list[str]:
    return [r["action"] for r in await conn.fetch("SELECT action FROM audit_log ORDER BY id")]


async def test_11_1_an_invited_member_sets_its_password_once_with_the_emailed_link(
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    services: Services,
    run_worker: Any,
    admin_token: str,
) -> None:
    member = await invite_billing(api, admin_token)
    assert member["email"] == "bea@staff.example.com"  # its domain part case-folded
    assert member["role"] == {
        "name": "BILLING",
        "permissions": member["role"]["permissions"],
        "builtIn": True,
    }
    assert (member["disabled"], member["invitationPending"]) == (False, True)
    await run_worker()
    [message] = services.mail.messages
    assert message["To"].endswith("<bea@staff.example.com>")
    token = link_token(message, "invitation")
    assert token not in str(await conn.fetch("SELECT body, context FROM emails"))
    # No password yet: nobody logs in as the new member.
    assert (await log_in(api, "bea@staff.example.com", NEW_PASSWORD))["token"] is None

    accepted = await payload(api, None, ACCEPT, token=token, password=NEW_PASSWORD)
    again = await payload(api, None, ACCEPT, token=token, password="another-password-2")

    assert accepted == {"ok": True, "errors": []}
    assert refusals(again) == {("token", "INVALID")}
    logged_in = await log_in(api, "bea@staff.example.com", NEW_PASSWORD)
    assert logged_in["viewer"] == {
        "kind": "STAFF",
        "email": "bea@staff.example.com",
        "clientId": None,
        "staffRole": "BILLING",
    }
    shown = await payload(
        api,
        admin_token,
        f"query($id: ID!) {{ staffMember(id: $id) {{ {MEMBER} }} }}",
        id=member["id"],
    )
    assert shown == {**member, "invitationPending": False}
    assert await audited(conn) == ["staff.invited", "staff.invitation_accepted"]


async def test_11_1_an_invitation_link_stops_working_when_it_expires_or_the_member_is_disabled(
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    services: Services,
    run_worker: Any,
    admin_token: str,
) -> None:
    expiring = await invite_billing(api, admin_token)
    await run_worker()
    token = link_token(services.mail.messages[-1], "invitation")
    await conn.execute("UPDATE password_tokens SET expires_at = now() - interval '1 second'")
    expired = await payload(api, None, ACCEPT, token=token, password=NEW_PASSWORD)
    assert refusals(expired) == {("token", "INVALID")}

    # Sent again (resetStaffPassword re-sends a pending invitation), then disabled.
    assert (await payload(api, admin_token, RESET, id=expiring["id"]))["errors"] == []
    await run_worker()
    token = link_token(services.mail.messages[-1], "invitation")
    assert (await payload(api, admin_token, DISABLE, id=expiring["id"]))["errors"] == []
    voided = await payload(api, None, ACCEPT, token=token, password=NEW_PASSWORD)

    assert refusals(voided) == {("token", "INVALID")}
    assert (
        await conn.fetchval(
            "SELECT password_hash FROM logins WHERE email = $1", "bea@staff.example.com"
        )
        is None
    )


async def test_11_1_an_invitation_with_bad_input_is_refused_per_field_and_changes_nothing(
    api: httpx.AsyncClient, conn: asyncpg.Connection, admin_token: str
) -> None:
    before = await conn.fetch("SELECT * FROM logins ORDER BY id")
    bad = await payload(
        api,
        admin_token,
        INVITE,
        input={
            "email": "not-an-address",
            "firstName": " ",
            "lastName": "",
            "roleId": await role_id(api, admin_token, "SUPPORT"),
        },
    )
    no_role = await payload(
        api,
        admin_token,
        INVITE,
        input={
            "email": "x@staff.example.com",
            "firstName": "X",
            "lastName": "Y",
            "roleId": gid("StaffRole", 999),
        },
    )
    taken = await payload(
        api,
        admin_token,
        INVITE,
        input={
            "email": "ADMIN@staff.example.com",
            "firstName": "X",
            "lastName": "Y",
            "roleId": await role_id(api, admin_token, "SUPPORT"),
        },
    )

    assert refusals(bad) == {
        ("email", "INVALID"),
        ("firstName", "REQUIRED"),
        ("lastName", "REQUIRED"),
    }
    assert refusals(no_role) == {("roleId", "NOT_FOUND")}
    assert refusals(taken) == {("email", "CONFLICT")}
    assert bad["staff"] is None and taken["staff"] is None
    assert await conn.fetch("SELECT * FROM logins ORDER BY id") == before
    assert await conn.fetchval("SELECT count(*) FROM emails") == 0
    assert await audited(conn) == []


async def test_11_1_disabling_a_member_ends_its_open_session_at_once(
    api: httpx.AsyncClient, conn: asyncpg.Connection, make_staff: Any, admin_token: str
) -> None:
    member_token = await make_staff(StaffRole.BILLING, "bill@staff.example.com")
    member = await own_id(conn, "bill@staff.example.com")
    assert (await gql(api, VIEWER, token=member_token))["data"]["viewer"]["kind"] == "STAFF"

    disabled = await payload(api, admin_token, DISABLE, id=member)

    assert disabled["errors"] == [] and disabled["staff"]["disabled"] is True
    assert (await gql(api, VIEWER, token=member_token))["data"]["viewer"] is None
    refused = await gql(
        api, "query { clients { totalCount } }", token=member_token, allow_errors=True
    )
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM sessions se JOIN staff st ON st.login_id = se.login_id "
            "WHERE NOT st.active"
        )
        == 0
    )
    assert (await log_in(api, "bill@staff.example.com", STAFF_PASSWORD))["token"] is None
    no_reset = await payload(api, admin_token, RESET, id=member)
    assert refusals(no_reset) == {("id", "CONFLICT")}
    listed = (await gql(api, MEMBERS, {"all": False}, token=admin_token))["data"]
    assert [e["node"]["email"] for e in listed["staffMembers"]["edges"]] == [
        "admin@staff.example.com"
    ]
    everyone = (await gql(api, MEMBERS, {"all": True}, token=admin_token))["data"]
    assert len(everyone["staffMembers"]["edges"]) == 2

    enabled = await payload(api, admin_token, ENABLE, id=member)

    assert enabled["errors"] == [] and enabled["staff"]["disabled"] is False
    assert (await log_in(api, "bill@staff.example.com", STAFF_PASSWORD))["token"] is not None
    assert await audited(conn) == ["staff.disabled", "staff.enabled"]


async def test_11_1_the_last_member_able_to_manage_staff_can_be_neither_disabled_nor_demoted(
    api: httpx.AsyncClient, conn: asyncpg.Connection, make_staff: Any, admin_token: str
) -> None:
    admin = await own_id(conn, "admin@staff.example.com")
    await make_staff(StaffRole.SUPPORT, "sue@staff.example.com")  # active, but no manager
    keepers = await payload(
        api,
        admin_token,
        f'mutation {{ saveStaffRole(input: {{name: "Keepers", permissions: [MANAGE_STAFF]}}) '
        f"{{ role {{ id }} {ERRORS} }} }}",
    )
    keepers_id = keepers["role"]["id"]
    before = await conn.fetch("SELECT * FROM staff ORDER BY id")

    disabling = await payload(api, admin_token, DISABLE, id=admin)
    demoting = await payload(
        api,
        admin_token,
        UPDATE,
        id=admin,
        input={"roleId": await role_id(api, admin_token, "BILLING")},
    )

    assert refusals(disabling) == {("id", "CONFLICT")}
    assert refusals(demoting) == {("roleId", "CONFLICT")}
    assert await conn.fetch("SELECT * FROM staff ORDER BY id") == before
    # Re-roled to a custom role that manages staff, then that role losing the permission.
    moved = await payload(api, admin_token, UPDATE, id=admin, input={"roleId": keepers_id})
    assert moved["errors"] == [] and moved["staff"]["role"]["name"] == "Keepers"
    emptied = await payload(
        api,
        admin_token,
        f'mutation($id: ID!) {{ saveStaffRole(input: {{id: $id, name: "Keepers", '
        f"permissions: [VIEW_CLIENTS]}}) {{ role {{ id }} {ERRORS} }} }}",
        id=keepers_id,
    )
    assert refusals(emptied) == {("permissions", "CONFLICT")}
    # With a second manager, the first may go.
    await make_staff(StaffRole.ADMIN, "ada@staff.example.com")
    assert (await payload(api, admin_token, DISABLE, id=admin))["errors"] == []


async def test_11_1_updating_a_member_changes_its_names_address_and_role(
    api: httpx.AsyncClient, conn: asyncpg.Connection, make_staff: Any, admin_token: str
) -> None:
    await make_staff(StaffRole.SUPPORT, "sue@staff.example.com")
    member = await own_id(conn, "sue@staff.example.com")
    auditors = await payload(
        api,
        admin_token,
        f'mutation {{ saveStaffRole(input: {{name: "Auditors", permissions: [VIEW_AUDIT_LOG]}}) '
        f"{{ role {{ id name permissions builtIn }} {ERRORS} }} }}",
    )
    assert auditors["role"]["permissions"] == ["VIEW_AUDIT_LOG"]

    bad = await payload(
        api, admin_token, UPDATE, id=member, input={"email": "nope", "lastName": ""}
    )
    taken = await payload(
        api, admin_token, UPDATE, id=member, input={"email": "admin@staff.example.com"}
    )
    unknown = await payload(
        api, admin_token, UPDATE, id=gid("Staff", 999), input={"firstName": "X"}
    )
    changed = await payload(
        api,
        admin_token,
        UPDATE,
        id=member,
        input={
            "email": "susan@staff.example.com",
            "firstName": "Susan",
            "roleId": auditors["role"]["id"],
        },
    )

    assert refusals(bad) == {("email", "INVALID"), ("lastName", "REQUIRED")}
    assert refusals(taken) == {("email", "CONFLICT")}
    assert refusals(unknown) == {("id", "NOT_FOUND")}
    assert changed["errors"] == []
    assert changed["staff"] | {"id": None} == {
        "id": None,
        "email": "susan@staff.example.com",
        "firstName": "Susan",
        "lastName": "Staff",
        "disabled": False,
        "invitationPending": False,
        "role": {"name": "Auditors", "permissions": ["VIEW_AUDIT_LOG"], "builtIn": False},
    }
    # The custom role's permissions are the member's from its next request on.
    token = await login(api, "susan@staff.example.com", STAFF_PASSWORD)
    viewer = (await gql(api, VIEWER, token=token))["data"]["viewer"]
    assert viewer == {"kind": "STAFF", "staffRole": "Auditors", "permissions": ["VIEW_AUDIT_LOG"]}
    [entry] = await conn.fetch("SELECT changes FROM audit_log WHERE action = 'staff.updated'")
    assert entry["changes"]["role"] == {"from": "SUPPORT", "to": "Auditors"}
    assert entry["changes"]["email"] == {
        "from": "sue@staff.example.com",
        "to": "susan@staff.example.com",
    }


async def test_11_1_custom_roles_are_saved_and_deleted_and_built_in_ones_stay(
    api: httpx.AsyncClient, conn: asyncpg.Connection, make_staff: Any, admin_token: str
) -> None:
    save = f"""mutation($input: StaffRoleInput!) {{
      saveStaffRole(input: $input) {{ role {{ id name permissions builtIn }} {ERRORS} }} }}"""
    delete = f"mutation($id: ID!) {{ deleteStaffRole(id: $id) {{ ok {ERRORS} }} }}"
    created = await payload(
        api,
        admin_token,
        save,
        input={"name": "Desk", "permissions": ["VIEW_CLIENTS", "VIEW_EMAILS"]},
    )
    desk = created["role"]
    assert (desk["builtIn"], desk["permissions"]) == (False, ["VIEW_CLIENTS", "VIEW_EMAILS"])
    clash = await payload(
        api, admin_token, save, input={"name": "admin", "permissions": ["VIEW_CLIENTS"]}
    )
    empty = await payload(api, admin_token, save, input={"name": " ", "permissions": []})
    built_in = await role_id(api, admin_token, "SUPPORT")
    change_built_in = await payload(
        api,
        admin_token,
        save,
        input={"id": built_in, "name": "SUPPORT", "permissions": ["VIEW_CLIENTS"]},
    )
    renamed = await payload(
        api,
        admin_token,
        save,
        input={"id": desk["id"], "name": "Front desk", "permissions": ["VIEW_CLIENTS"]},
    )
    await make_staff(StaffRole.SUPPORT, "sue@staff.example.com")
    member = await own_id(conn, "sue@staff.example.com")
    await payload(api, admin_token, UPDATE, id=member, input={"roleId": desk["id"]})
    in_use = await payload(api, admin_token, delete, id=desk["id"])
    delete_built_in = await payload(api, admin_token, delete, id=built_in)

    assert refusals(clash) == {("name", "CONFLICT")}
    assert refusals(empty) == {("name", "REQUIRED"), ("permissions", "REQUIRED")}
    assert refusals(change_built_in) == {("id", "FORBIDDEN")}
    assert renamed["role"] == {**desk, "name": "Front desk", "permissions": ["VIEW_CLIENTS"]}
    assert refusals(in_use) == {("id", "CONFLICT")}
    assert refusals(delete_built_in) == {("id", "FORBIDDEN")}
    names = [r["name"] for r in (await gql(api, ROLES, token=admin_token))["data"]["staffRoles"]]
    assert names == ["ADMIN", "BILLING", "SUPPORT", "READ_ONLY", "Front desk"]

    await payload(api, admin_token, UPDATE, id=member, input={"roleId": built_in})
    deleted = await payload(api, admin_token, delete, id=desk["id"])

    assert deleted == {"ok": True, "errors": []}
    assert await conn.fetchval("SELECT count(*) FROM staff_roles WHERE NOT built_in") == 0
    assert [a for a in await audited(conn) if a.startswith("staff_role.")] == [
        "staff_role.created",
        "staff_role.updated",
        "staff_role.deleted",
    ]


async def test_11_1_a_staff_password_reset_emails_a_link_that_sets_a_new_password_once(
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    services: Services,
    run_worker: Any,
    make_staff: Any,
    admin_token: str,
) -> None:
    member_token = await make_staff(StaffRole.BILLING, "bill@staff.example.com")
    member = await own_id(conn, "bill@staff.example.com")
    # Even where client-area resets email a random password: staff choose theirs.
    await update_general_settings(conn, password_reset_mode=PasswordResetMode.EMAIL_RANDOM)

    sent = await payload(api, admin_token, RESET, id=member)
    await run_worker()

    assert sent == {"ok": True, "errors": []}
    [message] = services.mail.messages
    assert message["To"].endswith("<bill@staff.example.com>")
    token = link_token(message, "password-reset")
    # Nothing changes until the link is followed.
    assert (await gql(api, VIEWER, token=member_token))["data"]["viewer"] is not None
    confirmed = await payload(api, None, CONFIRM_RESET, token=token, password=NEW_PASSWORD)
    again = await payload(api, None, CONFIRM_RESET, token=token, password="other-password-3")
    assert confirmed == {"ok": True, "errors": []}
    assert refusals(again) == {("token", "INVALID")}
    assert (await log_in(api, "bill@staff.example.com", STAFF_PASSWORD))["token"] is None
    assert (await log_in(api, "bill@staff.example.com", NEW_PASSWORD))["token"] is not None
    assert (await gql(api, VIEWER, token=member_token))["data"]["viewer"] is None
    assert "staff.password_reset_sent" in await audited(conn)
