"""SPEC 11.1 on the domain: the last member able to manage staff stays so, however the
requests that would end it race each other. Through the API: tests/api/test_staff_admin.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from domain.auth.permissions import StaffPermission, StaffRole
from domain.auth.staff import create_staff
from domain.errors import DomainError, ErrorCode
from domain.staff import members, roles

Change = Callable[[asyncpg.Connection, int, int], Awaitable[object]]


async def _disable(conn: asyncpg.Connection, staff_id: int, acting: int) -> object:
    return await members.set_staff_disabled(conn, staff_id, True, acting_staff_id=acting)


async def _demote(conn: asyncpg.Connection, staff_id: int, acting: int) -> object:
    billing = await conn.fetchval("SELECT id FROM staff_roles WHERE name = 'BILLING'")
    return await members.update_staff(conn, staff_id, {"role_id": billing}, acting_staff_id=acting)


async def _empty_its_role(conn: asyncpg.Connection, staff_id: int, acting: int) -> object:
    role_id = await conn.fetchval("SELECT custom_role_id FROM staff WHERE id = $1", staff_id)
    return await roles.save_role(
        conn,
        role_id=role_id,
        name=f"Keepers {staff_id}",
        permissions=["VIEW_CLIENTS"],
        staff_id=acting,
    )


CHANGES: dict[str, Change] = {
    "disable": _disable,
    "demote": _demote,
    "role-loses-manage-staff": _empty_its_role,
}


async def _manager(conn: asyncpg.Connection, name: str) -> int:
    """An active member with a password whose own custom role holds MANAGE_STAFF."""
    member = await create_staff(
        conn,
        email=f"{name}@staff.example.com",
        password="a-good-password",
        first_name=name,
        last_name="Manager",
        role=StaffRole.ADMIN,
    )
    role = await roles.save_role(
        conn,
        role_id=None,
        name=f"Keepers {member.id}",
        permissions=[StaffPermission.MANAGE_STAFF, StaffPermission.VIEW_CLIENTS],
        staff_id=None,
    )
    await members.update_staff(conn, member.id, {"role_id": role.id}, acting_staff_id=None)
    return member.id


@pytest.mark.parametrize("first", sorted(CHANGES))
@pytest.mark.parametrize("second", sorted(CHANGES))
async def test_11_1_of_two_racing_changes_taking_the_last_two_managers_one_is_refused(
    pool: asyncpg.Pool, conn: asyncpg.Connection, first: str, second: str
) -> None:
    ann, bob = await _manager(conn, "ann"), await _manager(conn, "bob")
    async with pool.acquire() as one, pool.acquire() as two:
        open_transaction = one.transaction()
        await open_transaction.start()
        await CHANGES[first](one, ann, bob)
        racing = asyncio.create_task(CHANGES[second](two, bob, ann))
        await asyncio.sleep(0.3)
        assert not racing.done()  # it waits for the first's row locks
        await open_transaction.commit()
        with pytest.raises(DomainError) as refused:
            await racing
    assert [e.code for e in refused.value.errors] == [ErrorCode.CONFLICT]
    still = await conn.fetchval(
        """SELECT count(*) FROM staff st LEFT JOIN staff_roles r ON r.id = st.custom_role_id
            WHERE st.active AND 'MANAGE_STAFF' = ANY (coalesce(r.permissions, '{}'))"""
    )
    assert still == 1
