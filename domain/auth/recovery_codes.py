"""Recovery codes of two-factor login (SPEC 11.2): ten single-use codes, shown once.

A code stands in for the authenticator's code when the device is lost. Each carries 80 bits
from `secrets`, so nobody guesses one, online or from a copy of the table; that is why a
keyed SHA-256 (HMAC under a random salt of the login) is kept rather than an argon2 hash:
checking a code at login costs one fast hash, not a turn of the password-hashing threads for
each of the ten. Issuing codes again replaces every earlier one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import asyncpg

COUNT = 10
# 10 random bytes in lower-case base 32 (RFC 4648): 16 characters, shown in groups of four.
_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz234567")
_LENGTH = 16
_GROUP = 4


def _new_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
    return "-".join(raw[i : i + _GROUP] for i in range(0, _LENGTH, _GROUP))


def normalized(code: str) -> str:
    """The code as it is hashed: case, spaces and dashes, as people type them, do not count."""
    return "".join(code.split()).replace("-", "").lower()


def looks_like_recovery_code(code: str) -> bool:
    """Whether `code` has the shape of a recovery code (an authenticator's has six digits)."""
    text = normalized(code)
    return len(text) == _LENGTH and set(text) <= _ALPHABET


def _digest(salt: bytes, code: str) -> bytes:
    return hmac.new(salt, normalized(code).encode(), hashlib.sha256).digest()


async def issue(conn: asyncpg.Connection, login_id: int) -> list[str]:
    """Ten new codes for the login, replacing any it had; the clear codes are only returned."""
    codes = [_new_code() for _ in range(COUNT)]
    salt = secrets.token_bytes(16)
    await conn.execute(
        """INSERT INTO recovery_codes (login_id, salt, code_hashes) VALUES ($1, $2, $3)
           ON CONFLICT (login_id) DO UPDATE
              SET salt = excluded.salt, code_hashes = excluded.code_hashes, created_at = now()""",
        login_id,
        salt,
        [_digest(salt, code) for code in codes],
    )
    return codes


async def use(conn: asyncpg.Connection, login_id: int, code: str) -> bool:
    """Spend `code` if it is one of the login's unused codes; whether it was."""
    if not looks_like_recovery_code(code):
        return False
    salt = await conn.fetchval("SELECT salt FROM recovery_codes WHERE login_id = $1", login_id)
    if salt is None:
        return False
    spent = await conn.fetchval(
        """UPDATE recovery_codes SET code_hashes = array_remove(code_hashes, $2)
            WHERE login_id = $1 AND $2 = ANY (code_hashes) RETURNING true""",
        login_id,
        _digest(salt, code),
    )
    return bool(spent)


async def discard(conn: asyncpg.Connection, login_id: int) -> None:
    """Forget the login's codes (its two-factor login is off)."""
    await conn.execute("DELETE FROM recovery_codes WHERE login_id = $1", login_id)
