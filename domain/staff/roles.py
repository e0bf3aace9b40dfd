"""Staff roles (SPEC 11.1): the four built-in ones and custom sets of staff permissions.

Every role is a row of `staff_roles`; a built-in role's permissions are the code's
(`ROLE_PERMISSIONS`) and cannot be changed here, a custom role's are stored with it. A member
holds a built-in role by name (`staff.role`) or a custom one by id (`staff.custom_role_id`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from domain import audit
from domain.auth.permissions import StaffPermission, role_permissions
from domain.errors import DomainError, ErrorCode, NotFound
from domain.staff.access import keep_a_staff_manager
from domain.validation import InputCheck


@dataclass(frozen=True)
class Role:
    id: int
    name: str
    permissions: frozenset[StaffPermission]
    built_in: bool

    @property
    def assignment(self) -> tuple[str | None, int | None]:
        """The (`staff.role`, `staff.custom_role_id`) pair of a member holding this role."""
        return (self.name, None) if self.built_in else (None, self.id)


# The columns `role` reads, of a `staff_roles` row aliased `r`.
ROLE_COLUMNS = (
    "r.id AS role_id, r.name::text AS role_name, r.built_in AS role_built_in, "
    "r.permissions AS role_permissions"
)


def role(row: Mapping[str, Any]) -> Role:
    """The role of a row holding ROLE_COLUMNS."""
    built_in = row["role_built_in"]
    return Role(
        id=row["role_id"],
        name=row["role_name"],
        permissions=role_permissions(
            row["role_name"] if built_in else None, row["role_permissions"]
        ),
        built_in=built_in,
    )


async def staff_roles(conn: asyncpg.Connection) -> list[Role]:
    """Every role, the built-in ones first, then custom ones by name."""
    rows = await conn.fetch(
        f"SELECT {ROLE_COLUMNS} FROM staff_roles r ORDER BY NOT r.built_in, r.id"
    )
    return [role(row) for row in rows]


async def roles_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, Role]:
    rows = await conn.fetch(
        f"SELECT {ROLE_COLUMNS} FROM staff_roles r WHERE r.id = ANY($1::bigint[])", list(ids)
    )
    return {row["role_id"]: role(row) for row in rows}


async def role_by_id(
    conn: asyncpg.Connection, role_id: int, *, field: str = "role_id", lock: bool = False
) -> Role:
    """The role `role_id`, else NOT_FOUND for `field`; `lock`: its row is locked too."""
    row = await conn.fetchrow(
        f"SELECT {ROLE_COLUMNS} FROM staff_roles r WHERE r.id = $1"
        + (" FOR UPDATE" if lock else ""),
        role_id,
    )
    if row is None:
        raise NotFound("Role", field)
    return role(row)


def _checked_role_input(name: str, permissions: Iterable[str]) -> tuple[str, list[str]]:
    check = InputCheck()
    cleaned = check.required_text("name", name, "Name")
    chosen = sorted(set(permissions))
    unknown = [p for p in chosen if p not in set(StaffPermission)]
    if unknown:
        check.fail("permissions", ErrorCode.INVALID, f"Unknown permission {', '.join(unknown)}.")
    elif not chosen:
        check.fail("permissions", ErrorCode.REQUIRED, "Choose at least one permission.")
    check.raise_if_failed()
    return cleaned, chosen


_NAME_TAKEN = DomainError.single(
    ErrorCode.CONFLICT, "Another role has this name (names ignore case).", "name"
)


async def save_role(
    conn: asyncpg.Connection,
    *,
    role_id: int | None,
    name: str,
    permissions: Iterable[str],
    staff_id: int | None,
) -> Role:
    """Create a custom role (`role_id` None) or change one; built-in roles stay as they are.

    A change that would leave no active member able to manage staff is refused."""
    name, chosen = _checked_role_input(name, permissions)
    async with conn.transaction():
        before = None
        if role_id is not None:
            if StaffPermission.MANAGE_STAFF not in chosen:
                await keep_a_staff_manager(
                    conn, lambda _, custom_role_id: custom_role_id == role_id, field="permissions"
                )
            before = await role_by_id(conn, role_id, field="id", lock=True)
            if before.built_in:
                raise DomainError.single(
                    ErrorCode.FORBIDDEN, "A built-in role cannot be changed.", "id"
                )
        try:
            if role_id is None:
                saved_id = await conn.fetchval(
                    "INSERT INTO staff_roles (name, permissions) VALUES ($1, $2) RETURNING id",
                    name,
                    chosen,
                )
            else:
                saved_id = await conn.fetchval(
                    "UPDATE staff_roles SET name = $2, permissions = $3 WHERE id = $1 RETURNING id",
                    role_id,
                    name,
                    chosen,
                )
        except asyncpg.UniqueViolationError:
            raise _NAME_TAKEN from None
        await audit.record(
            conn,
            staff_id=staff_id,
            action="staff_role.created" if before is None else "staff_role.updated",
            client_id=None,
            changes={
                "role_id": saved_id,
                "name": name,
                "permissions": chosen,
                **({} if before is None else {"was": _audited(before)}),
            },
        )
        return await role_by_id(conn, saved_id)


def _audited(role: Role) -> dict[str, object]:
    return {"name": role.name, "permissions": sorted(role.permissions)}


async def delete_role(conn: asyncpg.Connection, role_id: int, *, staff_id: int | None) -> None:
    """Delete a custom role that nothing holds; refused while a member or a key in use holds
    it (keys revoked or expired go with it)."""
    async with conn.transaction():
        doomed = await role_by_id(conn, role_id, field="id", lock=True)
        if doomed.built_in:
            raise DomainError.single(
                ErrorCode.FORBIDDEN, "A built-in role cannot be deleted.", "id"
            )
        in_use = DomainError.single(
            ErrorCode.CONFLICT,
            "Staff members or API keys in use hold this role: give the members another one "
            "first, and revoke the keys.",
            "id",
        )
        if await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM staff WHERE custom_role_id = $1)", role_id
        ):
            raise in_use
        # Keys no longer in use keep no role from going; a key in use does (RESTRICT).
        await conn.execute(
            "DELETE FROM api_keys WHERE role_id = $1 AND (revoked_at IS NOT NULL "
            "OR expires_at <= now())",
            role_id,
        )
        try:
            await conn.execute("DELETE FROM staff_roles WHERE id = $1", role_id)
        except (asyncpg.ForeignKeyViolationError, asyncpg.RestrictViolationError):
            # Held by something else that names roles (an API key in use: RESTRICT).
            raise in_use from None
        await audit.record(
            conn,
            staff_id=staff_id,
            action="staff_role.deleted",
            client_id=None,
            changes={"role_id": role_id, **_audited(doomed)},
        )
