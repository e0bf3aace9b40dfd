"""One-time tokens: the links of password resets (SPEC 5.2, 5.3), of sub-account invitations
(SPEC 2.4), of staff invitations (SPEC 11.1) and of login address changes (SPEC 5.5).

A token is 256 random bits from `secrets`; only its SHA-256 hash is stored, so a copy of the
database opens no account. It expires, and it is spent by the one redemption whose UPDATE
marks it used: of two concurrent redemptions, the second waits for the first's row lock and
then finds the token used.

A reset token is held by a login. A sub-account invitation's is held by the contact it makes a
login for: the contact has none until the invitation is accepted. A staff invitation's is held
by the member's login, made without a password. An address change's is held by the login and
carries the new address, which the login gets when the token is spent.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from enum import StrEnum

import asyncpg

from domain.validation import storable_text

# Longer than any token `secrets.token_urlsafe(32)` makes; longer input is no token of ours.
_MAX_TOKEN_LENGTH = 128

RESET_TOKEN_TTL = timedelta(hours=2)
# An invitation waits for someone who may not expect it, over a weekend say: three days.
INVITATION_TOKEN_TTL = timedelta(hours=72)
# The reader of a new address confirms it the same day, or asks again.
EMAIL_CHANGE_TOKEN_TTL = timedelta(hours=24)


class TokenPurpose(StrEnum):
    """What a token lets its holder do; a token is redeemed only for its own purpose."""

    RESET = "RESET"
    INVITATION = "INVITATION"
    # A new staff member's set-password link, held by its login (domain/staff/invitations.py).
    STAFF_INVITATION = "STAFF_INVITATION"
    EMAIL_CHANGE = "EMAIL_CHANGE"

    @property
    def holder(self) -> str:
        """The column naming what the token belongs to: a login, or an invited contact."""
        return "contact_id" if self is TokenPurpose.INVITATION else "login_id"


def well_formed(token: str) -> bool:
    """Whether `token` could be one of ours: what could not is refused before any query."""
    return len(token) <= _MAX_TOKEN_LENGTH and storable_text(token)


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def revoke_tokens(conn: asyncpg.Connection, holder_id: int, purpose: TokenPurpose) -> None:
    """Void the holder's unused tokens of `purpose`: their links stop working."""
    await conn.execute(
        f"""UPDATE password_tokens SET used_at = now()
             WHERE {purpose.holder} = $1 AND purpose = $2 AND used_at IS NULL""",
        holder_id,
        purpose.value,
    )


async def issue_token(
    conn: asyncpg.Connection,
    holder_id: int,
    purpose: TokenPurpose,
    *,
    ttl: timedelta,
    new_email: str | None = None,
) -> str:
    """A new token for `holder_id` (a login, or a contact for an invitation); earlier unused
    ones of the same purpose stop working, so only the newest email's link does anything.
    An EMAIL_CHANGE token carries the `new_email` it confirms."""
    await revoke_tokens(conn, holder_id, purpose)
    token = secrets.token_urlsafe(32)
    await conn.execute(
        f"""INSERT INTO password_tokens
                   (token_hash, {purpose.holder}, purpose, expires_at, new_email)
            VALUES ($1, $2, $3, now() + $4, $5)""",
        _token_hash(token),
        holder_id,
        purpose.value,
        ttl,
        new_email,
    )
    return token


async def _spend(conn: asyncpg.Connection, token: str, purpose: TokenPurpose) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""UPDATE password_tokens SET used_at = now()
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
         RETURNING {purpose.holder} AS holder_id, new_email::text AS new_email""",
        _token_hash(token),
        purpose.value,
    )


async def redeem_token(conn: asyncpg.Connection, token: str, purpose: TokenPurpose) -> int | None:
    """Spend a live token of `purpose` in the caller's transaction and return its holder's id;
    None when unknown, expired or used. Rolled back with that transaction, it is live again."""
    row = await _spend(conn, token, purpose)
    return None if row is None else int(row["holder_id"])


async def redeem_email_change(conn: asyncpg.Connection, token: str) -> tuple[int, str] | None:
    """Spend a live EMAIL_CHANGE token as `redeem_token` does; its login's id and the new
    address it confirms."""
    row = await _spend(conn, token, TokenPurpose.EMAIL_CHANGE)
    return None if row is None else (int(row["holder_id"]), row["new_email"])
