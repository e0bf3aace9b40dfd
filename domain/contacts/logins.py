"""A contact's login, as a contact update changes it: which step an update takes, and the
login's address checked and created (SPEC 2.2, 2.5)."""

from __future__ import annotations

from enum import Enum, auto

import asyncpg

from domain.auth.passwords import hash_password
from domain.contacts.models import Contact
from domain.errors import DomainError, ErrorCode
from domain.validation import InputCheck


class LoginStep(Enum):
    """What an update does to a contact's login or invitation."""

    KEEP = auto()  # as it is (a login follows a new address, staff's change or a case change)
    REMOVE = auto()  # no longer a sub-account: the login or the invitation goes
    CREATE = auto()  # a login now, with the password staff give
    SET_PASSWORD = auto()  # the login stays (at its new address) with a new password
    INVITE = auto()  # (again) invited: a new link, the older void
    REPLACE_BY_INVITATION = auto()  # client area, new address: a new login


def login_step(
    current: Contact,
    sub_account: bool,
    *,
    password: bool,
    moves: bool,
    client_area: bool,
    asked: bool,
) -> LoginStep:
    """The step for a contact that is to be a sub-account or not, given a password or not,
    moving to a new address or not, changed from the client area or not, and whether the
    update names `sub_account` at all (naming it again sends a new invitation)."""
    if not sub_account:
        return LoginStep.REMOVE if current.sub_account else LoginStep.KEEP
    if password:
        return LoginStep.CREATE if current.login_id is None else LoginStep.SET_PASSWORD
    if current.login_id is not None:
        return LoginStep.REPLACE_BY_INVITATION if moves and client_area else LoginStep.KEEP
    if moves or asked or not current.sub_account:
        return LoginStep.INVITE
    return LoginStep.KEEP


def email_conflict(check: InputCheck, email: str) -> None:
    check.fail("email", ErrorCode.CONFLICT, f"{email} is already used by another login.")


async def login_email_taken(
    conn: asyncpg.Connection, email: str, *, except_login_id: int | None = None
) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM logins WHERE email = $1 AND id IS DISTINCT FROM $2)",
            email,
            except_login_id,
        )
    )


def email_taken(email: str) -> DomainError:
    return DomainError.single(
        ErrorCode.CONFLICT, f"{email} is already used by another login.", "email"
    )


async def create_login(conn: asyncpg.Connection, email: str, password: str) -> int:
    try:
        login_id: int = await conn.fetchval(
            "INSERT INTO logins (email, password_hash) VALUES ($1, $2) RETURNING id",
            email,
            await hash_password(password),
        )
    except asyncpg.UniqueViolationError:
        raise email_taken(email) from None  # taken by a concurrent request since checked
    return login_id
