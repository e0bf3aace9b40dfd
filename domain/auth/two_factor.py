"""Two-factor login with TOTP (RFC 6238), SPEC 1.7.

Only the login itself turns it on, from the client area: a setup stores a new secret and
shows it once; a code from the authenticator confirms it. Staff may only turn it off (with
MANAGE_LOGIN_SECURITY, which setting the password of a login that has it also needs). The
secret is kept AES-GCM-encrypted under the card keys (`domain.cards.crypto`), bound to its
login's id, and is never shown again after the setup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import pyotp

from domain import audit
from domain.cards.crypto import CardKeyring, SealedNumber
from domain.clients.models import Client
from domain.clients.queries import get_client
from domain.errors import DomainError, ErrorCode, NotFound

ISSUER = "clientdesk"


@dataclass(frozen=True)
class TwoFactorSetup:
    secret: str
    otpauth_uri: str


def _associated_data(login_id: int) -> bytes:
    return f"clientdesk totp secret of login {login_id}".encode()


def _require_keyring(keyring: CardKeyring | None) -> CardKeyring:
    if keyring is None:
        raise DomainError.single(
            ErrorCode.NOT_CONFIGURED,
            "Two-factor login needs the installation's encryption keys (CARD_ENCRYPTION_KEYS).",
        )
    return keyring


def _sealed(row: asyncpg.Record) -> SealedNumber:
    return SealedNumber(row["totp_key_version"], row["totp_nonce"], row["totp_ciphertext"])


def open_totp_secret(keyring: CardKeyring | None, login_id: int, row: asyncpg.Record) -> str:
    """The clear secret of a login row holding `totp_key_version, totp_nonce,
    totp_ciphertext`."""
    return _require_keyring(keyring).open_text(_sealed(row), _associated_data(login_id))


async def begin_two_factor_setup(
    conn: asyncpg.Connection, login_id: int, email: str, keyring: CardKeyring | None
) -> TwoFactorSetup:
    """Store a new secret waiting for confirmation and return it, the one time it is shown.
    A setup begun again replaces the unconfirmed one."""
    sealer = _require_keyring(keyring)
    secret = pyotp.random_base32()
    sealed = sealer.seal_text(secret, _associated_data(login_id))
    changed = await conn.execute(
        """UPDATE logins SET totp_key_version = $2, totp_nonce = $3, totp_ciphertext = $4
            WHERE id = $1 AND NOT totp_enabled""",
        login_id,
        sealed.key_version,
        sealed.nonce,
        sealed.ciphertext,
    )
    if changed == "UPDATE 0":
        raise DomainError.single(ErrorCode.CONFLICT, "Two-factor login is on already.")
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
    return TwoFactorSetup(secret=secret, otpauth_uri=uri)


async def confirm_two_factor_setup(
    conn: asyncpg.Connection,
    login_id: int,
    code: str,
    keyring: CardKeyring | None,
    *,
    code_unused: Callable[[str], Awaitable[bool]],
) -> None:
    """Turn two-factor login on when `code` matches the pending secret.

    `code_unused(code)` is awaited to claim the code, so that it cannot also log in."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """SELECT totp_enabled, totp_key_version, totp_nonce, totp_ciphertext
                 FROM logins WHERE id = $1 FOR UPDATE""",
            login_id,
        )
        if row is None or row["totp_enabled"] or row["totp_ciphertext"] is None:
            raise DomainError.single(
                ErrorCode.CONFLICT, "There is no two-factor setup to confirm; begin one first."
            )
        secret = open_totp_secret(keyring, login_id, row)
        code = code.strip()
        if not (
            code.isascii()
            and code.isdigit()
            and pyotp.TOTP(secret).verify(code, valid_window=1)
            and await code_unused(code)
        ):
            raise DomainError.single(
                ErrorCode.INVALID_CREDENTIALS, "The authentication code is wrong.", "code"
            )
        await conn.execute("UPDATE logins SET totp_enabled = true WHERE id = $1", login_id)


async def two_factor_enabled(conn: asyncpg.Connection, login_id: int) -> bool:
    """Whether the login has two-factor turned on (false when there is no such login)."""
    return bool(await conn.fetchval("SELECT totp_enabled FROM logins WHERE id = $1", login_id))


async def disable_client_two_factor(
    conn: asyncpg.Connection, client_id: int, *, staff_id: int | None
) -> Client:
    """Staff turn a client's two-factor login off (after checking who asks, off-line)."""
    async with conn.transaction():
        was_on = await conn.fetchval(
            """SELECT l.totp_enabled FROM clients c JOIN logins l ON l.id = c.owner_login_id
                WHERE c.id = $1 FOR UPDATE OF l""",
            client_id,
        )
        if was_on is None:
            raise NotFound("Client")
        await conn.execute(
            """UPDATE logins SET totp_enabled = false, totp_key_version = NULL,
                                 totp_nonce = NULL, totp_ciphertext = NULL
                WHERE id = (SELECT owner_login_id FROM clients WHERE id = $1)""",
            client_id,
        )
        await audit.record(
            conn,
            staff_id=staff_id,
            action="client.two_factor_disabled",
            client_id=client_id,
            changes={"twoFactorEnabled": {"from": was_on, "to": False}},
        )
        client = await get_client(conn, client_id)
        assert client is not None
        return client


async def rotate_totp_keys(conn: asyncpg.Connection, keyring: CardKeyring) -> int:
    """Re-encrypt every TOTP secret under the newest key; return how many were."""
    rotated = 0
    async with conn.transaction():
        rows = await conn.fetch(
            """SELECT id, totp_key_version, totp_nonce, totp_ciphertext FROM logins
                WHERE totp_key_version <> $1 FOR UPDATE""",
            keyring.current_version,
        )
        for row in rows:
            data = _associated_data(row["id"])
            sealed = keyring.seal_text(keyring.open_text(_sealed(row), data), data)
            await conn.execute(
                """UPDATE logins SET totp_key_version = $2, totp_nonce = $3, totp_ciphertext = $4
                    WHERE id = $1""",
                row["id"],
                sealed.key_version,
                sealed.nonce,
                sealed.ciphertext,
            )
            rotated += 1
    return rotated
