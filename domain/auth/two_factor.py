"""Two-factor login with TOTP (RFC 6238), SPEC 1.7 and 11.2.

Every login kind (staff, account holder, sub-account) turns it on the same way, and only
itself: a setup stores a new secret and shows it once; a code from the authenticator
confirms it and gives ten recovery codes (`domain.auth.recovery_codes`), each good once in
place of the authenticator's code. The login turns it off, or gets new recovery codes, with a
code of either kind; staff with MANAGE_LOGIN_SECURITY (which setting the password of a login
that has it also needs) turn anyone's off, audited. The secret is kept AES-GCM-encrypted
under the card keys (`domain.cards.crypto`), bound to its login's id, and is never shown
again after the setup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import pyotp

from domain import audit
from domain.auth import recovery_codes
from domain.cards.crypto import CardKeyring, SealedNumber
from domain.clients.models import Client
from domain.clients.queries import get_client
from domain.errors import DomainError, ErrorCode, NotFound

ISSUER = "clientdesk"
_WRONG_CODE = "The authentication code is wrong."
CodeUnused = Callable[[str], Awaitable[bool]]


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


async def code_is_good(
    conn: asyncpg.Connection,
    keyring: CardKeyring | None,
    login_id: int,
    row: asyncpg.Record,
    code: str,
    *,
    code_unused: CodeUnused,
) -> bool:
    """Whether `code` is the login's current authenticator code, or one of its unused recovery
    codes. Either is spent by being good: `code_unused(code)` is awaited to claim an
    authenticator code (one seen over a shoulder or in transit cannot be replayed), and a
    recovery code is used up. `row` holds the login's sealed secret."""
    code = code.strip()
    if recovery_codes.looks_like_recovery_code(code):
        return await recovery_codes.use(conn, login_id, code)
    return await _authenticator_code_ok(open_totp_secret(keyring, login_id, row), code, code_unused)


async def _authenticator_code_ok(secret: str, code: str, code_unused: CodeUnused) -> bool:
    return (
        code.isascii()
        and code.isdigit()
        and pyotp.TOTP(secret).verify(code, valid_window=1)
        and await code_unused(code)
    )


async def confirm_two_factor_setup(
    conn: asyncpg.Connection,
    login_id: int,
    code: str,
    keyring: CardKeyring | None,
    *,
    code_unused: CodeUnused,
    session_id: int | None = None,
) -> list[str]:
    """Turn two-factor login on when `code` matches the pending secret; return the login's
    ten recovery codes, the one time they are shown.

    `code_unused(code)` is awaited to claim the code, so that it cannot also log in. The
    session `session_id` that confirmed it has passed the second factor from now on."""
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
        if not await _authenticator_code_ok(secret, code.strip(), code_unused):
            raise DomainError.single(ErrorCode.INVALID_CREDENTIALS, _WRONG_CODE, "code")
        await conn.execute("UPDATE logins SET totp_enabled = true WHERE id = $1", login_id)
        await conn.execute(
            "UPDATE sessions SET two_factor_passed = true WHERE id = $1 AND login_id = $2",
            session_id,
            login_id,
        )
        return await recovery_codes.issue(conn, login_id)


async def _check_own_code(
    conn: asyncpg.Connection,
    login_id: int,
    code: str,
    keyring: CardKeyring | None,
    code_unused: CodeUnused,
) -> None:
    """Lock the login, which must have two-factor on, and check (and spend) its code."""
    row = await conn.fetchrow(
        """SELECT totp_enabled, totp_key_version, totp_nonce, totp_ciphertext
             FROM logins WHERE id = $1 FOR UPDATE""",
        login_id,
    )
    if row is None or not row["totp_enabled"]:
        raise DomainError.single(ErrorCode.CONFLICT, "Two-factor login is not on.")
    if not await code_is_good(conn, keyring, login_id, row, code, code_unused=code_unused):
        raise DomainError.single(ErrorCode.INVALID_CREDENTIALS, _WRONG_CODE, "code")


async def disable_my_two_factor(
    conn: asyncpg.Connection,
    login_id: int,
    code: str,
    keyring: CardKeyring | None,
    *,
    code_unused: CodeUnused,
) -> None:
    """The login turns its own two-factor off, with an authenticator or a recovery code: a
    session alone (perhaps left open) is not enough."""
    async with conn.transaction():
        await _check_own_code(conn, login_id, code, keyring, code_unused)
        await _turn_off(conn, login_id)


async def regenerate_recovery_codes(
    conn: asyncpg.Connection,
    login_id: int,
    code: str,
    keyring: CardKeyring | None,
    *,
    code_unused: CodeUnused,
) -> list[str]:
    """Ten new recovery codes for the login, given a code of either kind; the earlier ones
    stop working."""
    async with conn.transaction():
        await _check_own_code(conn, login_id, code, keyring, code_unused)
        return await recovery_codes.issue(conn, login_id)


async def two_factor_enabled(conn: asyncpg.Connection, login_id: int) -> bool:
    """Whether the login has two-factor turned on (false when there is no such login)."""
    return bool(await conn.fetchval("SELECT totp_enabled FROM logins WHERE id = $1", login_id))


async def _turn_off(conn: asyncpg.Connection, login_id: int) -> None:
    """Two-factor off: no secret, no recovery codes, and no session of the login counts as
    having passed a second factor it no longer has."""
    await conn.execute(
        """UPDATE logins SET totp_enabled = false, totp_key_version = NULL,
                             totp_nonce = NULL, totp_ciphertext = NULL
            WHERE id = $1""",
        login_id,
    )
    await recovery_codes.discard(conn, login_id)
    await conn.execute(
        "UPDATE sessions SET two_factor_passed = false WHERE login_id = $1", login_id
    )


@dataclass(frozen=True)
class TwoFactorHolder:
    """Whose two-factor staff turn off: exactly one of a client's account holder, a
    sub-account (contact) or a staff member, by its row id."""

    client_id: int | None = None
    contact_id: int | None = None
    staff_id: int | None = None


# Per kind of holder: its login and the client its audit entry belongs to, the argument that
# names it, what it is called, and the audited action.
_HOLDERS = {
    "client_id": (
        "SELECT owner_login_id AS login_id, id AS client_id FROM clients WHERE id = $1",
        "clientId",
        "Client",
        "client.two_factor_disabled",
    ),
    "contact_id": (
        "SELECT login_id, client_id FROM contacts WHERE id = $1",
        "contactId",
        "Contact",
        "contact.two_factor_disabled",
    ),
    "staff_id": (
        "SELECT login_id, NULL::bigint AS client_id FROM staff WHERE id = $1",
        "staffId",
        "Staff member",
        "staff.two_factor_disabled",
    ),
}


async def disable_two_factor(
    conn: asyncpg.Connection, holder: TwoFactorHolder, *, staff_id: int | None
) -> None:
    """Staff turn someone's two-factor login off (after checking who asks, off-line)."""
    given = {name: value for name, value in vars(holder).items() if value is not None}
    if len(given) != 1:
        raise DomainError.single(
            ErrorCode.INVALID, "Give exactly one of clientId, contactId and staffId."
        )
    [(kind, row_id)] = given.items()
    query, field, what, action = _HOLDERS[kind]
    async with conn.transaction():
        row = await conn.fetchrow(query, row_id)
        if row is None:
            raise NotFound(what, field)
        if row["login_id"] is None:
            raise DomainError.single(
                ErrorCode.CONFLICT, "This contact has no login of its own.", field
            )
        was_on = await conn.fetchval(
            "SELECT totp_enabled FROM logins WHERE id = $1 FOR UPDATE", row["login_id"]
        )
        await _turn_off(conn, row["login_id"])
        changes: dict[str, object] = {"twoFactorEnabled": {"from": was_on, "to": False}}
        if kind != "client_id":
            changes[field] = row_id
        await audit.record(
            conn, staff_id=staff_id, action=action, client_id=row["client_id"], changes=changes
        )


async def disable_client_two_factor(
    conn: asyncpg.Connection, client_id: int, *, staff_id: int | None
) -> Client:
    """Staff turn a client's two-factor login off; the client as it now is."""
    if await get_client(conn, client_id) is None:
        raise NotFound("Client")  # by the `id` argument of disableClientTwoFactor
    await disable_two_factor(conn, TwoFactorHolder(client_id=client_id), staff_id=staff_id)
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
