"""What keeps an installation administrable and what ends a member's access (SPEC 11.1)."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from domain.auth.api_keys import revoke_keys_of_staff
from domain.auth.password_tokens import TokenPurpose, revoke_tokens
from domain.auth.permissions import StaffPermission, role_permissions
from domain.auth.sessions import end_sessions_of_login
from domain.errors import DomainError, ErrorCode


async def end_staff_access(conn: asyncpg.Connection, staff_id: int) -> None:
    """End everything a member could act through, at once, in the caller's transaction: its
    sessions, the API keys it made, and the set-password links of its login not yet
    followed. The one place that does so, so that disabling stops all of it together."""
    login_id = await conn.fetchval("SELECT login_id FROM staff WHERE id = $1", staff_id)
    await end_sessions_of_login(conn, login_id)
    await revoke_keys_of_staff(conn, staff_id)
    for purpose in (TokenPurpose.RESET, TokenPurpose.STAFF_INVITATION):
        await revoke_tokens(conn, login_id, purpose)


# (staff id, custom role id or None) of a member who manages staff today.
Losing = Callable[[int, int | None], bool]


async def keep_a_staff_manager(conn: asyncpg.Connection, losing: Losing, *, field: str) -> None:
    """Refuse (for `field`) a change after which no active member could manage staff, when
    one can today; `losing(staff_id, custom_role_id)` says whether the change takes that
    ability from a member who has it. Call it before making the change, in its transaction.

    Every active member's row is locked first (in id order, so two callers never deadlock),
    and only then are the members and their roles read, in a statement of its own that sees
    whatever a change committed while this one waited: of two requests disabling the last
    two managers, or demoting them by role or by changing their role, the second sees the
    first's work and is refused. A member invited but without a password yet counts for
    nothing: it may never accept."""
    await conn.execute("SELECT 1 FROM staff WHERE active ORDER BY id FOR UPDATE")
    rows = await conn.fetch(
        """SELECT st.id, st.role, st.custom_role_id, sr.permissions
             FROM staff st
             JOIN logins l ON l.id = st.login_id AND l.password_hash IS NOT NULL
             LEFT JOIN staff_roles sr ON sr.id = st.custom_role_id
            WHERE st.active"""
    )
    managers = [
        (row["id"], row["custom_role_id"])
        for row in rows
        if StaffPermission.MANAGE_STAFF in role_permissions(row["role"], row["permissions"])
    ]
    if managers and all(losing(*manager) for manager in managers):
        raise DomainError.single(
            ErrorCode.CONFLICT,
            "This would leave no active staff member able to manage staff (MANAGE_STAFF): "
            "give another member that permission first.",
            field,
        )
