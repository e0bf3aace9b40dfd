"""Opaque session tokens: random, stored only as a SHA-256 hash, expiring."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from domain.auth.permissions import ContactPermission, role_permissions
from domain.auth.viewer import Viewer, ViewerKind


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def start_session(
    conn: asyncpg.Connection,
    login_id: int,
    *,
    ttl: timedelta,
    two_factor_passed: bool = False,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> str:
    """A new session of the login; `two_factor_passed`: it was opened with a second factor."""
    token = secrets.token_urlsafe(32)
    await conn.execute(
        """INSERT INTO sessions (token_hash, login_id, expires_at, ip_address, user_agent,
                                 two_factor_passed)
           VALUES ($1, $2, now() + $3, $4, $5, $6)""",
        _token_hash(token),
        login_id,
        ttl,
        ip_address,
        (user_agent or "")[:255] or None,
        two_factor_passed,
    )
    return token


@dataclass(frozen=True)
class Session:
    """A live session as a request finds it, in one statement."""

    viewer: Viewer
    # The service and domain statuses this (staff) session chose to see, as stored: what
    # `domain.billing.status_filter.status_filter` reads; None: all of them (SPEC 1.9).
    service_status_filter: list[str] | None
    domain_status_filter: list[str] | None


async def session_for_token(conn: asyncpg.Connection, token: str) -> Session | None:
    """The live session a token opens; None for unknown, expired or closed ones."""
    row = await conn.fetchrow(
        """SELECT se.id AS session_id, se.service_status_filter, se.domain_status_filter,
                  l.id AS login_id,
                  se.two_factor_passed,
                  l.email::text AS email, st.id AS staff_id, st.role,
                  sr.name::text AS custom_role, sr.permissions AS custom_role_permissions,
                  c.id AS client_id, ct.id AS contact_id, ct.client_id AS contact_client_id,
                  ct.permissions
             FROM sessions se
             JOIN logins l ON l.id = se.login_id
             LEFT JOIN staff st ON st.login_id = l.id AND st.active
             LEFT JOIN staff_roles sr ON sr.id = st.custom_role_id
             LEFT JOIN clients c ON c.owner_login_id = l.id AND c.status <> 'CLOSED'
             LEFT JOIN contacts ct ON ct.login_id = l.id
                  AND EXISTS (SELECT 1 FROM clients cc
                               WHERE cc.id = ct.client_id AND cc.status <> 'CLOSED')
            WHERE se.token_hash = $1 AND se.expires_at > now()""",
        _token_hash(token),
    )
    viewer = None if row is None else _viewer(row)
    if viewer is None:
        return None
    return Session(viewer, row["service_status_filter"], row["domain_status_filter"])


async def viewer_for_token(conn: asyncpg.Connection, token: str) -> Viewer | None:
    """The viewer a live session token belongs to; None for unknown, expired or closed ones."""
    session = await session_for_token(conn, token)
    return None if session is None else session.viewer


def _viewer(row: asyncpg.Record) -> Viewer | None:
    common = {
        "login_id": row["login_id"],
        "session_id": row["session_id"],
        "email": row["email"],
        "two_factor_passed": row["two_factor_passed"],
    }
    if row["staff_id"] is not None:
        return Viewer(
            ViewerKind.STAFF,
            staff_id=row["staff_id"],
            staff_role=row["role"] or row["custom_role"],
            staff_permissions=role_permissions(row["role"], row["custom_role_permissions"]),
            **common,
        )
    if row["client_id"] is not None:
        return Viewer(ViewerKind.CLIENT, client_id=row["client_id"], **common)
    if row["contact_id"] is not None:
        return Viewer(
            ViewerKind.CONTACT,
            client_id=row["contact_client_id"],
            contact_id=row["contact_id"],
            contact_permissions=frozenset(ContactPermission(p) for p in row["permissions"]),
            **common,
        )
    return None


async def end_session(conn: asyncpg.Connection, token: str) -> None:
    await conn.execute("DELETE FROM sessions WHERE token_hash = $1", _token_hash(token))


async def end_sessions_of_login(
    conn: asyncpg.Connection, login_id: int, *, except_session_id: int | None = None
) -> None:
    await conn.execute(
        "DELETE FROM sessions WHERE login_id = $1 AND id IS DISTINCT FROM $2",
        login_id,
        except_session_id,
    )


async def delete_expired_sessions(conn: asyncpg.Connection) -> int:
    result: str = await conn.execute("DELETE FROM sessions WHERE expires_at <= now()")
    return int(result.split()[-1])
