"""Staff members as staff administration sees and changes them (SPEC 11.1).

Every change is audited (`domain.audit`, no client) with the acting member's id; a change
that would leave nobody able to manage staff is refused (`access.keep_a_staff_manager`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from domain import audit
from domain.auth.permissions import StaffPermission
from domain.errors import DomainError, ErrorCode, NotFound
from domain.paging import Keyset, Page, PageRequest, fetch_page
from domain.staff.access import end_staff_access, keep_a_staff_manager
from domain.staff.roles import ROLE_COLUMNS, Role, role, role_by_id
from domain.validation import InputCheck


@dataclass(frozen=True)
class StaffMember:
    id: int
    login_id: int
    email: str
    first_name: str
    last_name: str
    role: Role
    disabled: bool
    two_factor_enabled: bool
    # False until an invited member follows its set-password link.
    password_set: bool
    last_login_at: datetime | None
    created_at: datetime


_COLUMNS = (
    "st.id, st.login_id, l.email::text AS email, st.first_name, st.last_name, NOT st.active AS "
    "disabled, l.totp_enabled, l.password_hash IS NOT NULL AS password_set, l.last_login_at, "
    f"st.created_at, {ROLE_COLUMNS}"
)
_SOURCE = """FROM staff st JOIN logins l ON l.id = st.login_id
  JOIN staff_roles r ON r.id = st.custom_role_id OR (r.built_in AND r.name = st.role)"""

STAFF_LIST = Keyset(
    columns=_COLUMNS, source=_SOURCE, expression="st.id", sql_type="bigint", id_column="st.id"
)


def _member(row: Mapping[str, Any]) -> StaffMember:
    return StaffMember(
        id=row["id"],
        login_id=row["login_id"],
        email=row["email"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        role=role(row),
        disabled=row["disabled"],
        two_factor_enabled=row["totp_enabled"],
        password_set=row["password_set"],
        last_login_at=row["last_login_at"],
        created_at=row["created_at"],
    )


async def staff_members(
    conn: asyncpg.Connection,
    request: PageRequest,
    *,
    include_disabled: bool = False,
    look_behind: bool = True,
) -> Page[StaffMember]:
    """A page of the staff, oldest member first; disabled ones only when asked for."""
    return await fetch_page(
        conn,
        STAFF_LIST,
        request,
        _member,
        conditions=[] if include_disabled else ["st.active"],
        look_behind=look_behind,
    )


async def staff_member(
    conn: asyncpg.Connection, staff_id: int, *, lock: bool = False
) -> StaffMember | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} {_SOURCE} WHERE st.id = $1" + (" FOR UPDATE OF st" if lock else ""),
        staff_id,
    )
    return None if row is None else _member(row)


async def staff_members_by_ids(
    conn: asyncpg.Connection, ids: Sequence[int]
) -> dict[int, StaffMember]:
    """The members of these ids, disabled ones too (as `staffMember` shows them)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} {_SOURCE} WHERE st.id = ANY($1::bigint[])", list(ids)
    )
    return {row["id"]: _member(row) for row in rows}


async def existing_member(conn: asyncpg.Connection, staff_id: int) -> StaffMember:
    """The member, its row locked for the caller's change; NOT_FOUND for `id` otherwise."""
    member = await staff_member(conn, staff_id, lock=True)
    if member is None:
        raise NotFound("Staff member", "id")
    return member


def checked_profile(check: InputCheck, changes: dict[str, Any]) -> dict[str, Any]:
    """The cleaned names and address among `changes` (those given), failures in `check`."""
    labels = {"first_name": "First name", "last_name": "Last name"}
    cleaned = {
        name: check.required_text(name, changes[name], label)
        for name, label in labels.items()
        if name in changes
    }
    if "email" in changes:
        cleaned["email"] = check.email("email", changes["email"], allow_local=True)
    return cleaned


ADDRESS_TAKEN = DomainError.single(
    ErrorCode.CONFLICT, "Another login already has this email address.", "email"
)


def _manages_staff(role: Role) -> bool:
    return StaffPermission.MANAGE_STAFF in role.permissions


async def update_staff(
    conn: asyncpg.Connection,
    staff_id: int,
    changes: dict[str, Any],
    *,
    acting_staff_id: int | None,
) -> StaffMember:
    """Change a member's names, email address (its login's) and role (`role_id`)."""
    check = InputCheck()
    profile = checked_profile(check, changes)
    check.raise_if_failed()
    async with conn.transaction():
        role_id = changes.get("role_id")
        new_role = None if role_id is None else await role_by_id(conn, role_id)
        if new_role is not None and not _manages_staff(new_role):
            await keep_a_staff_manager(
                conn, lambda member_id, _: member_id == staff_id, field="role_id"
            )
        before = await existing_member(conn, staff_id)
        if "email" in profile:
            try:
                await conn.execute(
                    "UPDATE logins SET email = $2 WHERE id = $1", before.login_id, profile["email"]
                )
            except asyncpg.UniqueViolationError:
                raise ADDRESS_TAKEN from None
        built_in, custom_role_id = new_role.assignment if new_role else (None, None)
        await conn.execute(
            """UPDATE staff SET first_name = coalesce($2, first_name),
                                last_name = coalesce($3, last_name),
                                role = CASE WHEN $6 THEN $4 ELSE role END,
                                custom_role_id = CASE WHEN $6 THEN $5 ELSE custom_role_id END
                WHERE id = $1""",
            staff_id,
            profile.get("first_name"),
            profile.get("last_name"),
            built_in,
            custom_role_id,
            new_role is not None,
        )
        after = await existing_member(conn, staff_id)
        await audit.record(
            conn,
            staff_id=acting_staff_id,
            action="staff.updated",
            client_id=None,
            changes=_differences(before, after),
        )
    return after


def _audited(member: StaffMember) -> dict[str, Any]:
    return {
        "email": member.email,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "role": member.role.name,
    }


def _differences(before: StaffMember, after: StaffMember) -> dict[str, Any]:
    was, now = _audited(before), _audited(after)
    changed = {k: {"from": was[k], "to": now[k]} for k in was if was[k] != now[k]}
    return {"staff_member_id": after.id, **changed}


async def set_staff_disabled(
    conn: asyncpg.Connection, staff_id: int, disabled: bool, *, acting_staff_id: int | None
) -> StaffMember:
    """Disable a member (its sessions and links end at once, `end_staff_access`) or enable
    it again; the last active member able to manage staff cannot be disabled."""
    async with conn.transaction():
        if disabled:
            await keep_a_staff_manager(conn, lambda member_id, _: member_id == staff_id, field="id")
        member = await existing_member(conn, staff_id)
        if member.disabled != disabled:
            await conn.execute("UPDATE staff SET active = $2 WHERE id = $1", staff_id, not disabled)
            if disabled:
                await end_staff_access(conn, staff_id)
            await audit.record(
                conn,
                staff_id=acting_staff_id,
                action="staff.disabled" if disabled else "staff.enabled",
                client_id=None,
                changes={"staff_member_id": staff_id, "email": member.email},
            )
        return await existing_member(conn, staff_id)
