"""Logging in with email + password (+ TOTP or a recovery code when two-factor is on),
SPEC 5.1, 5.4 and 11.2."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from domain.auth import passwords, sessions
from domain.auth.throttle import LoginThrottle
from domain.auth.two_factor import code_is_good
from domain.auth.viewer import Viewer
from domain.cards.crypto import CardKeyring
from domain.errors import DomainError, ErrorCode
from domain.validation import normalize_email, storable_text

_BAD_CREDENTIALS = "Email or password is incorrect."

_LOGIN_ROW = """SELECT l.id, l.password_hash, l.totp_enabled, l.totp_key_version, l.totp_nonce,
     l.totp_ciphertext,
     EXISTS (SELECT 1 FROM staff st WHERE st.login_id = l.id AND st.active) AS staff,
     (SELECT status FROM (
          SELECT c.status FROM clients c WHERE c.owner_login_id = l.id
          UNION ALL  -- a sub-account: the status of the client it belongs to
          SELECT c.status FROM contacts ct JOIN clients c ON c.id = ct.client_id
           WHERE ct.login_id = l.id) AS account
       LIMIT 1) AS client_status
 FROM logins l WHERE l.email = $1"""


@dataclass(frozen=True)
class LoginRequest:
    email: str
    password: str
    totp_code: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None


async def log_in(
    pool: asyncpg.Pool,
    throttle: LoginThrottle,
    request: LoginRequest,
    *,
    session_ttl: timedelta,
    keyring: CardKeyring | None = None,
) -> tuple[str, Viewer]:
    """Check the credentials and open a session; return its token and the viewer.

    No connection is held while the password is checked or rehashed: hashes queue for the
    hashing threads, and logins waiting there must not starve other requests of the pool.
    """
    email = normalize_email(request.email)
    if not await throttle.begin_attempt(email, request.ip_address):
        raise DomainError.single(
            ErrorCode.TOO_MANY_ATTEMPTS, "Too many failed logins. Try again later."
        )
    # Budgeted per account and address, like its failures: a budget of the account's alone,
    # spent by anyone, would refuse its owner everywhere.
    hashing = f"email:{email} from {request.ip_address or 'unknown'}"
    if not await throttle.spend_password_hash(hashing, request.ip_address):
        await throttle.cancel_attempt(email, request.ip_address)
        raise DomainError.single(ErrorCode.TOO_MANY_ATTEMPTS, "Too many logins. Try again later.")
    # Stored addresses are ASCII without controls (domain.validation); any other matches no
    # account, and must not reach citext, which folds "İ" to "i" where Python does not.
    row = None
    if email.isascii() and storable_text(email):
        async with pool.acquire() as conn:
            row = await conn.fetchrow(_LOGIN_ROW, email)
    hashed = row["password_hash"] if row else None
    if not await passwords.verify_password(hashed, request.password):
        raise DomainError.single(ErrorCode.INVALID_CREDENTIALS, _BAD_CREDENTIALS, "password")
    assert row is not None and hashed is not None
    if not row["staff"]:
        if row["client_status"] is None:
            raise DomainError.single(ErrorCode.INVALID_CREDENTIALS, _BAD_CREDENTIALS, "password")
        if row["client_status"] == "CLOSED":
            await throttle.cancel_attempt(email, request.ip_address)
            raise DomainError.single(
                ErrorCode.ACCOUNT_CLOSED, "This account is closed; contact support.", "email"
            )
    if row["totp_enabled"]:
        if not request.totp_code:
            await throttle.cancel_attempt(email, request.ip_address)
            raise DomainError.single(
                ErrorCode.TOTP_REQUIRED, "Enter the code from your authenticator app.", "totp_code"
            )
        # The authenticator's code or a recovery code, each good once (`code_is_good`).
        async with pool.acquire() as conn:
            code_ok = await code_is_good(
                conn,
                keyring,
                row["id"],
                row,
                request.totp_code,
                code_unused=lambda used: throttle.claim_totp_code(row["id"], used),
            )
        if not code_ok:
            raise DomainError.single(
                ErrorCode.INVALID_CREDENTIALS, "The authentication code is wrong.", "totp_code"
            )

    await throttle.record_success(email, request.ip_address)
    new_hash = (
        await passwords.hash_password(request.password) if passwords.needs_rehash(hashed) else None
    )
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """UPDATE logins SET last_login_at = now(),
                                 password_hash = coalesce($2, password_hash)
                WHERE id = $1""",
            row["id"],
            new_hash,
        )
        token = await sessions.start_session(
            conn,
            row["id"],
            ttl=session_ttl,
            two_factor_passed=row["totp_enabled"],
            ip_address=request.ip_address,
            user_agent=request.user_agent,
        )
        viewer = await sessions.viewer_for_token(conn, token)
    assert viewer is not None
    return token, viewer
