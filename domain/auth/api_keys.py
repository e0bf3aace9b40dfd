"""API keys as a request meets them (SPEC 11.3): their secrets, the viewer a secret opens,
when they were last used, and how many requests each may make a minute.

A secret is `cdk_<prefix>_<random>`: the prefix finds the row (it is unique and indexed),
the SHA-256 of the whole secret is compared with the stored one. 256 random bits make a fast
hash as safe as a slow one. Session tokens are 43 characters of base64url, never this shape,
so the shape alone says which table a bearer token is looked up in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

import asyncpg
from redis.asyncio import Redis

from domain.auth.permissions import StaffPermission, role_permissions
from domain.auth.viewer import Viewer, ViewerKind

SECRET_START = "cdk_"  # noqa: S105 -- the marker of a key, not a secret
_PREFIX_BYTES = 6  # 12 hex digits: enough to tell keys apart, and unique by constraint
_RANDOM_BYTES = 32
_SECRET_LENGTH = len(SECRET_START) + 2 * _PREFIX_BYTES + 1 + 43  # 43: base64url of 32 bytes

# What a key never does, whatever its role holds: administer staff or keys, or override a
# login's security. Card reveal is refused to keys by the field itself (MANAGE_CARDS also
# saves and clears cards, which an integration may do).
NEVER_FOR_API_KEYS = frozenset(
    {StaffPermission.MANAGE_STAFF, StaffPermission.MANAGE_LOGIN_SECURITY}
)

# How stale lastUsedAt may be: it is written at most this often, not on every request.
LAST_USED_RESOLUTION_SECONDS = 60


@dataclass(frozen=True)
class NewSecret:
    secret: str
    prefix: str
    secret_hash: bytes


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_secret() -> NewSecret:
    prefix = secrets.token_hex(_PREFIX_BYTES)
    secret = f"{SECRET_START}{prefix}_{secrets.token_urlsafe(_RANDOM_BYTES)}"
    return NewSecret(secret, prefix, secret_hash(secret))


def is_api_key_secret(token: str) -> bool:
    """Whether a bearer token has an API key's shape (else it is a session token)."""
    return token.startswith(SECRET_START) and len(token) == _SECRET_LENGTH


def key_permissions(built_in: str | None, custom: list[str] | None) -> frozenset[StaffPermission]:
    """A key's role's permissions less those no key holds."""
    return role_permissions(built_in, custom) - NEVER_FOR_API_KEYS


async def viewer_for_secret(conn: asyncpg.Connection, secret: str) -> Viewer | None:
    """The viewer of a live key: None for an unknown, revoked or expired one, and for one
    whose member is disabled (its keys are revoked with it too, domain/staff/access.py)."""
    row = await conn.fetchrow(
        """SELECT k.id, k.secret_hash, k.staff_id, st.login_id, l.email::text AS email,
                  r.name::text AS role_name, r.built_in, r.permissions
             FROM api_keys k
             JOIN staff st ON st.id = k.staff_id AND st.active
             JOIN logins l ON l.id = st.login_id
             JOIN staff_roles r ON r.id = k.role_id
            WHERE k.prefix = $1 AND k.revoked_at IS NULL
              AND (k.expires_at IS NULL OR k.expires_at > now())""",
        secret[len(SECRET_START) : len(SECRET_START) + 2 * _PREFIX_BYTES],
    )
    if row is None or not hmac.compare_digest(row["secret_hash"], secret_hash(secret)):
        return None
    return Viewer(
        ViewerKind.API_KEY,
        login_id=row["login_id"],
        session_id=None,
        email=row["email"],
        staff_id=row["staff_id"],
        staff_role=row["role_name"],
        staff_permissions=key_permissions(
            row["role_name"] if row["built_in"] else None, row["permissions"]
        ),
        api_key_id=row["id"],
    )


@dataclass
class LastUse:
    """Writes a key's lastUsedAt at most once a LAST_USED_RESOLUTION_SECONDS: this process
    skips the write when it made one lately, and the statement skips it when another
    process did."""

    _written: dict[int, float] = field(default_factory=dict)

    async def record(self, conn: asyncpg.Connection, api_key_id: int) -> None:
        now = time.monotonic()
        if now - self._written.get(api_key_id, -LAST_USED_RESOLUTION_SECONDS) < (
            LAST_USED_RESOLUTION_SECONDS
        ):
            return
        self._written[api_key_id] = now
        await conn.execute(
            """UPDATE api_keys SET last_used_at = now()
                WHERE id = $1 AND (last_used_at IS NULL
                                   OR last_used_at < now() - make_interval(secs => $2))""",
            api_key_id,
            LAST_USED_RESOLUTION_SECONDS,
        )


# KEYS: the key's counter. ARGV: the window. The count so far and the seconds left of the
# window, which starts with the first request counted.
_COUNT_REQUEST = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('TTL', KEYS[1])}
"""
RATE_WINDOW_SECONDS = 60


class KeyRateLimit:
    """Requests per key per minute, counted in Redis so that every API process shares it."""

    def __init__(self, redis: Redis, per_minute: int) -> None:
        self._per_minute = per_minute
        self._count = redis.register_script(_COUNT_REQUEST)

    async def wait_before(self, api_key_id: int) -> int | None:
        """Count a request of the key: None when it may go on, else the seconds until its
        window ends (for Retry-After)."""
        count, ttl = await self._count(
            keys=[f"api-key-requests:{api_key_id}"], args=[RATE_WINDOW_SECONDS]
        )
        return None if int(count) <= self._per_minute else max(int(ttl), 1)


async def revoke_keys_of_staff(conn: asyncpg.Connection, staff_id: int) -> None:
    await conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE staff_id = $1 AND revoked_at IS NULL",
        staff_id,
    )
