"""One-time password tokens: reset links (SPEC 5.2, 5.3) and sub-account invitations.

A token is 256 random bits from `secrets`; only its SHA-256 hash is stored, so a copy of the
database opens no account. It expires, and it is spent by the one redemption whose UPDATE
marks it used: of two concurrent redemptions, the second waits for the first's row lock and
then finds the token used.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import asyncpg

RESET_TOKEN_TTL = timedelta(hours=2)
INVITATION_TOKEN_TTL = timedelta(days=7)


class TokenPurpose(StrEnum):
    RESET = "RESET"
    INVITATION = "INVITATION"


@dataclass(frozen=True)
class RedeemedToken:
    login_id: int
    purpose: TokenPurpose


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def issue_token(
    conn: asyncpg.Connection, login_id: int, purpose: TokenPurpose, *, ttl: timedelta
) -> str:
    """A new token for `login_id`; earlier unused ones of the same purpose stop working, so
    only the newest email's link does anything."""
    await conn.execute(
        """UPDATE password_tokens SET used_at = now()
            WHERE login_id = $1 AND purpose = $2 AND used_at IS NULL""",
        login_id,
        purpose.value,
    )
    token = secrets.token_urlsafe(32)
    await conn.execute(
        """INSERT INTO password_tokens (token_hash, login_id, purpose, expires_at)
           VALUES ($1, $2, $3, now() + $4)""",
        _token_hash(token),
        login_id,
        purpose.value,
        ttl,
    )
    return token


async def redeem_token(conn: asyncpg.Connection, token: str) -> RedeemedToken | None:
    """Spend a live token in the caller's transaction; None when unknown, expired or used.

    Rolled back with the caller's transaction, the token is live again."""
    row = await conn.fetchrow(
        """UPDATE password_tokens SET used_at = now()
            WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
        RETURNING login_id, purpose""",
        _token_hash(token),
    )
    return RedeemedToken(row["login_id"], TokenPurpose(row["purpose"])) if row else None
