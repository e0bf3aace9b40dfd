"""Staff accounts (SPEC 10.1)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from domain import audit
from domain.auth.passwords import hash_password, verify_password
from domain.auth.permissions import StaffRole
from domain.auth.sessions import end_sessions_of_login
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


async def staff_password_matches(conn: asyncpg.Connection, email: str, password: str) -> bool:
    password_hash = await conn.fetchval(
        "SELECT l.password_hash FROM staff JOIN logins l ON l.id = login_id WHERE l.email = $1",
        email,
    )
    return await verify_password(password_hash, password)


async def set_staff_password(conn: asyncpg.Connection, email: str, password: str) -> None:
    """Give a staff login a new password; its sessions end, as with any password change."""
    check = InputCheck()
    check.password("password", password)
    check.raise_if_failed()
    password_hash = await hash_password(password)  # hashed before any row is locked
    async with conn.transaction():
        login_id = await conn.fetchval(
            """UPDATE logins SET password_hash = $2
                WHERE email = $1 AND id IN (SELECT login_id FROM staff) RETURNING id""",
            email,
            password_hash,
        )
        if login_id is None:
            raise DomainError.single(ErrorCode.NOT_FOUND, f"No staff member {email}.", "email")
        await end_sessions_of_login(conn, login_id)
        await audit.record(
            conn,
            staff_id=None,
            action="staff.password_set",
            client_id=None,
            changes={"login": email, "by": "command line"},
        )
