"""One-time password tokens: the links of password resets (SPEC 5.2, 5.3).

A token is 256 random bits from `secrets`; only its SHA-256 hash is stored, so a copy of the
database opens no account. It expires, and it is spent by the one redemption whose UPDATE
marks it used: of two concurrent redemptions, the second waits for the first's row lock and
then finds the token used.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from enum import StrEnum

import asyncpg

RESET_TOKEN_TTL = timedelta(hours=2)


class TokenPurpose(StrEnum):
    """What a token lets its holder do; a token is redeemed only for its own purpose."""

    RESET = "RESET"


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


async def redeem_token(conn: asyncpg.Connection, token: str, purpose: TokenPurpose) -> int | None:
    """Spend a live token of `purpose` in the caller's transaction and return its login's id;
    None when unknown, expired or used. Rolled back with that transaction, it is live again."""
    login_id: int | None = await conn.fetchval(
        """UPDATE password_tokens SET used_at = now()
            WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
        RETURNING login_id""",
        _token_hash(token),
        purpose.value,
    )
    return login_id
