"""Staff invitations and password resets by email (SPEC 11.1).

An invited member exists at once (listed, re-roled, disabled like any other) with a login that
has no password, so nobody can log in as it; the email carries a one-time link
(`domain.auth.password_tokens`, purpose STAFF_INVITATION) with which the reader of the address
chooses the password through `acceptInvitation`, as a sub-account does. A reset emails a reset
link (purpose RESET), followed with `confirmPasswordReset`; nothing changes until it is.
"""

from __future__ import annotations

import asyncpg

from domain import audit
from domain.auth.password_tokens import (
    INVITATION_TOKEN_TTL,
    RESET_TOKEN_TTL,
    TokenPurpose,
    issue_token,
    redeem_token,
)
from domain.auth.passwords import hash_password
from domain.emails.outbox import queue_email
from domain.errors import DomainError, ErrorCode
from domain.staff.members import (
    ADDRESS_TAKEN,
    StaffMember,
    checked_profile,
    existing_member,
)
from domain.staff.roles import role_by_id
from domain.validation import InputCheck

INVITATION_TEMPLATE = "staff_invitation"
RESET_TEMPLATE = "staff_password_reset"


async def _email_member(
    conn: asyncpg.Connection,
    member: StaffMember,
    template: str,
    token: str,
    *,
    client_area_url: str,
    valid_hours: int,
) -> None:
    await queue_email(
        conn,
        template=template,
        to_address=member.email,
        to_name=f"{member.first_name} {member.last_name}",
        client_id=None,
        context={
            "member": {"first_name": member.first_name, "email": member.email},
            "role": member.role.name,
            "valid_hours": valid_hours,
            "client_area_url": client_area_url,
            "secret": {"token": token},
        },
    )


async def invite_staff(
    conn: asyncpg.Connection,
    *,
    email: str,
    first_name: str,
    last_name: str,
    role_id: int,
    acting_staff_id: int | None,
    client_area_url: str,
) -> StaffMember:
    """A new member with role `role_id` and a login without a password, and an email to its
    address with the link that sets one."""
    check = InputCheck()
    profile = checked_profile(
        check, {"email": email, "first_name": first_name, "last_name": last_name}
    )
    check.raise_if_failed()
    async with conn.transaction():
        role = await role_by_id(conn, role_id)
        login_id = await conn.fetchval(
            """INSERT INTO logins (email) VALUES ($1)
               ON CONFLICT (email) DO NOTHING RETURNING id""",
            profile["email"],
        )
        if login_id is None:
            raise ADDRESS_TAKEN
        built_in, custom_role_id = role.assignment
        staff_id = await conn.fetchval(
            """INSERT INTO staff (login_id, first_name, last_name, role, custom_role_id)
               VALUES ($1, $2, $3, $4, $5) RETURNING id""",
            login_id,
            profile["first_name"],
            profile["last_name"],
            built_in,
            custom_role_id,
        )
        member = await existing_member(conn, staff_id)
        token = await issue_token(
            conn, login_id, TokenPurpose.STAFF_INVITATION, ttl=INVITATION_TOKEN_TTL
        )
        await _email_member(
            conn,
            member,
            INVITATION_TEMPLATE,
            token,
            client_area_url=client_area_url,
            valid_hours=int(INVITATION_TOKEN_TTL.total_seconds() // 3600),
        )
        await audit.record(
            conn,
            staff_id=acting_staff_id,
            action="staff.invited",
            client_id=None,
            changes={"staff_member_id": staff_id, "email": member.email, "role": role.name},
        )
    return member


async def reset_staff_password(
    conn: asyncpg.Connection, staff_id: int, *, acting_staff_id: int | None, client_area_url: str
) -> None:
    """Email an active member a reset link (earlier ones stop working); a member invited but
    not yet in gets its invitation sent again instead, since it has no password to reset."""
    async with conn.transaction():
        member = await existing_member(conn, staff_id)
        if member.disabled:
            raise DomainError.single(
                ErrorCode.CONFLICT, "This member is disabled: enable it first.", "id"
            )
        purpose, template, ttl = (
            (TokenPurpose.RESET, RESET_TEMPLATE, RESET_TOKEN_TTL)
            if member.password_set
            else (TokenPurpose.STAFF_INVITATION, INVITATION_TEMPLATE, INVITATION_TOKEN_TTL)
        )
        token = await issue_token(conn, member.login_id, purpose, ttl=ttl)
        await _email_member(
            conn,
            member,
            template,
            token,
            client_area_url=client_area_url,
            valid_hours=int(ttl.total_seconds() // 3600),
        )
        await audit.record(
            conn,
            staff_id=acting_staff_id,
            action="staff.password_reset_sent",
            client_id=None,
            changes={"staff_member_id": staff_id, "email": member.email},
        )


async def accept_staff_invitation(conn: asyncpg.Connection, token: str, password: str) -> bool:
    """Spend a staff invitation token, in the caller's transaction, and give the invited
    member's login `password` (already checked); False when the token is no live staff
    invitation (it may be a sub-account's). A disabled member's links were voided."""
    login_id = await redeem_token(conn, token, TokenPurpose.STAFF_INVITATION)
    if login_id is None:
        return False
    staff_id = await conn.fetchval(
        "SELECT id FROM staff WHERE login_id = $1 AND active FOR SHARE", login_id
    )
    if staff_id is None:
        return False
    await conn.execute(
        "UPDATE logins SET password_hash = $2 WHERE id = $1",
        login_id,
        await hash_password(password),
    )
    await audit.record(
        conn,
        staff_id=staff_id,
        action="staff.invitation_accepted",
        client_id=None,
        changes={"staff_member_id": staff_id},
    )
    return True
