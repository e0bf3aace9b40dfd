"""Staff accounts (SPEC 10.1)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from domain.auth.passwords import hash_password
from domain.auth.permissions import StaffRole
from domain.errors import DomainError, ErrorCode
from domain.validation import InputCheck


@dataclass(frozen=True)
class Staff:
    id: int
    login_id: int
    email: str
    first_name: str
    last_name: str
    role: StaffRole


async def create_staff(
    conn: asyncpg.Connection,
    *,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    role: StaffRole = StaffRole.ADMIN,
) -> Staff:
    check = InputCheck()
    email = check.email("email", email, allow_local=True)
    first_name = check.required_text("first_name", first_name, "First name")
    last_name = check.required_text("last_name", last_name, "Last name")
    check.password("password", password)
    check.raise_if_failed()
    async with conn.transaction():
        login_id = await conn.fetchval(
            """INSERT INTO logins (email, password_hash) VALUES ($1, $2)
               ON CONFLICT (email) DO NOTHING RETURNING id""",
            email,
            await hash_password(password),
        )
        if login_id is None:
            raise DomainError.single(ErrorCode.CONFLICT, f"{email} already has a login.", "email")
        staff_id = await conn.fetchval(
            """INSERT INTO staff (login_id, first_name, last_name, role)
               VALUES ($1, $2, $3, $4) RETURNING id""",
            login_id,
            first_name,
            last_name,
            role.value,
        )
    return Staff(staff_id, login_id, email, first_name, last_name, role)


async def staff_exists(conn: asyncpg.Connection, email: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM staff JOIN logins l ON l.id = login_id "
            "WHERE l.email = $1)",
            email,
        )
    )
