"""Passwords, login, sessions and the login throttle on the domain directly (SPEC 1.3, 5.1,
5.4), against the real PostgreSQL and Redis.

argon2 with the production parameters is slow on purpose, so accounts get a password hash
computed once for the module (`CURRENT_HASH`), or one with older, cheap parameters
(`OLD_HASH`) where a test makes many failed attempts; a successful login on the latter also
rehashes it (5.4).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import argon2
import asyncpg
import pyotp
import pytest
from redis.asyncio import Redis

from domain.auth import passwords, sessions
from domain.auth.login import LoginRequest, log_in
from domain.auth.permissions import StaffRole
from domain.auth.staff import create_staff
from domain.auth.throttle import ADDRESS_BUDGET_FACTOR, LoginThrottle
from domain.auth.viewer import ViewerKind
from domain.clients import services as client_services
from domain.clients.models import ClientStatus
from domain.errors import DomainError, ErrorCode
from tests.conftest import TEST_KEYRING, Services, turn_on_two_factor

PASSWORD = "client-password-1"
OLD_HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
OLD_HASH = OLD_HASHER.hash(PASSWORD)
CURRENT_HASH = passwords.hash_password_blocking(PASSWORD)
TTL = timedelta(hours=1)
MAX_FAILURES = 3
ADDRESS = "192.0.2.1"


@pytest.fixture
async def redis(services: Services) -> AsyncIterator[Redis]:
    client = Redis.from_url(services.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def throttle(redis: Redis) -> LoginThrottle:
    return LoginThrottle(redis, max_failures=MAX_FAILURES, cooldown_seconds=60)


async def add_client(
    conn: asyncpg.Connection, email: str = "joe@example.com", password_hash: str = CURRENT_HASH
) -> int:
    """A client whose owner logs in with PASSWORD; returns its id."""
    client = await client_services.add_client(
        conn,
        {"first_name": "Joe", "last_name": "Bloggs", "email": email},
        password=None,
        staff_id=None,
        send_welcome_email=False,
        client_area_url="http://127.0.0.1:8000",
    )
    await conn.execute(
        "UPDATE logins SET password_hash = $2 WHERE id = $1", client.owner_login_id, password_hash
    )
    return client.id


async def login_id_of(conn: asyncpg.Connection, email: str) -> int:
    value: int = await conn.fetchval("SELECT id FROM logins WHERE email = $1", email)
    return value


async def stored_hash(conn: asyncpg.Connection, email: str) -> str:
    value: str = await conn.fetchval("SELECT password_hash FROM logins WHERE email = $1", email)
    return value


async def attempt(
    pool: asyncpg.Pool,
    throttle: LoginThrottle,
    email: str,
    password: str = PASSWORD,
    *,
    totp_code: str | None = None,
    ip_address: str = ADDRESS,
) -> ErrorCode | None:
    """Log in; the error code of a refusal, or None on success."""
    request = LoginRequest(email, password, totp_code=totp_code, ip_address=ip_address)
    try:
        await log_in(pool, throttle, request, session_ttl=TTL, keyring=TEST_KEYRING)
    except DomainError as error:
        return error.errors[0].code
    return None


async def session_count(conn: asyncpg.Connection) -> int:
    value: int = await conn.fetchval("SELECT count(*) FROM sessions")
    return value


def wrong_code(secret: str, offset: int = 5) -> str:
    """A TOTP code that is not valid now (valid ones are now and one step either side)."""
    return f"{(int(pyotp.TOTP(secret).now()) + offset) % 1_000_000:06d}"


async def test_5_1_passwords_are_hashed_with_argon2id() -> None:
    assert CURRENT_HASH.startswith("$argon2id$")
    assert PASSWORD not in CURRENT_HASH
    assert await passwords.verify_password(CURRENT_HASH, PASSWORD)
    assert not await passwords.verify_password(CURRENT_HASH, PASSWORD + "x")
    assert not await passwords.verify_password(None, PASSWORD)
    assert not await passwords.verify_password("not a hash", PASSWORD)
    assert not passwords.needs_rehash(CURRENT_HASH)


async def ticks_while(work: asyncio.Future[object]) -> int:
    """How often a 1 ms timer fired on the event loop while `work` ran."""
    ticks = 0
    while not work.done():
        await asyncio.sleep(0.001)
        ticks += 1
    await work
    return ticks


async def test_5_1_hashing_and_verifying_leave_the_event_loop_free() -> None:
    """argon2 takes ~0.1 s of CPU: run on the loop, it would stall every other request."""
    hashing = asyncio.ensure_future(passwords.hash_password(PASSWORD))
    assert await ticks_while(hashing) >= 10
    verifying = asyncio.ensure_future(passwords.verify_password(CURRENT_HASH, PASSWORD))
    assert await ticks_while(verifying) >= 10
    assert await verifying is True


async def test_5_1_clients_and_staff_log_in_with_email_and_password(
    conn: asyncpg.Connection, throttle: LoginThrottle, pool: asyncpg.Pool
) -> None:
    client_id = await add_client(conn)
    staff = await create_staff(
        conn,
        email="sam@staff.example.com",
        password=PASSWORD,
        first_name="Sam",
        last_name="Staff",
        role=StaffRole.BILLING,
    )
    hashed = await stored_hash(conn, "sam@staff.example.com")
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed

    token, viewer = await log_in(
        pool, throttle, LoginRequest("JOE@example.com ", PASSWORD), session_ttl=TTL
    )
    assert (viewer.kind, viewer.email, viewer.client_id, viewer.staff_role) == (
        ViewerKind.CLIENT,
        "joe@example.com",
        client_id,
        None,
    )
    assert await sessions.viewer_for_token(conn, token) == viewer

    token, viewer = await log_in(
        pool, throttle, LoginRequest("sam@staff.example.com", PASSWORD), session_ttl=TTL
    )
    assert (viewer.kind, viewer.staff_id, viewer.client_id, viewer.staff_role) == (
        ViewerKind.STAFF,
        staff.id,
        None,
        StaffRole.BILLING,
    )
    assert await sessions.viewer_for_token(conn, token) == viewer
    assert await conn.fetchval("SELECT count(*) FROM logins WHERE last_login_at IS NULL") == 0


async def test_5_1_wrong_password_and_unknown_email_get_the_same_refusal(
    conn: asyncpg.Connection, throttle: LoginThrottle, pool: asyncpg.Pool
) -> None:
    await add_client(conn, password_hash=OLD_HASH)
    await client_services.add_client(
        conn,
        {"first_name": "No", "last_name": "Password", "email": "nopassword@example.com"},
        password=None,
        staff_id=None,
        send_welcome_email=False,
        client_area_url="http://127.0.0.1:8000",
    )
    refusals = []
    for email, password in [
        ("joe@example.com", "wrong-password"),
        ("nobody@example.com", PASSWORD),
        ("nopassword@example.com", ""),
    ]:
        with pytest.raises(DomainError) as refused:
            await log_in(pool, throttle, LoginRequest(email, password), session_ttl=TTL)
        refusals.append(refused.value.errors)
    assert refusals[0][0].code is ErrorCode.INVALID_CREDENTIALS
    assert refusals[0] == refusals[1] == refusals[2]
    assert await session_count(conn) == 0


@pytest.mark.parametrize(
    ("status", "refusal"),
    [
        (ClientStatus.ACTIVE, None),
        (ClientStatus.INACTIVE, None),
        (ClientStatus.CLOSED, ErrorCode.ACCOUNT_CLOSED),
    ],
)
async def test_1_3_only_closed_clients_cannot_log_in(
    conn: asyncpg.Connection,
    throttle: LoginThrottle,
    status: ClientStatus,
    refusal: ErrorCode | None,
    pool: asyncpg.Pool,
) -> None:
    client_id = await add_client(conn)
    await client_services.set_client_status(conn, client_id, status, staff_id=None)
    assert await attempt(pool, throttle, "joe@example.com") == refusal
    assert await session_count(conn) == (0 if refusal else 1)


async def test_1_3_closing_a_client_ends_its_sessions(conn: asyncpg.Connection) -> None:
    client_id = await add_client(conn)
    other_id = await add_client(conn, "other@example.com")
    login_id = await login_id_of(conn, "joe@example.com")
    tokens = [await sessions.start_session(conn, login_id, ttl=TTL) for _ in range(2)]
    other_token = await sessions.start_session(
        conn, await login_id_of(conn, "other@example.com"), ttl=TTL
    )

    await client_services.set_client_status(conn, client_id, ClientStatus.CLOSED, staff_id=None)

    for token in tokens:
        assert await sessions.viewer_for_token(conn, token) is None
    # The sessions are gone, not merely hidden: reopening the account does not revive them.
    assert await conn.fetchval("SELECT count(*) FROM sessions WHERE login_id = $1", login_id) == 0
    await client_services.set_client_status(conn, client_id, ClientStatus.ACTIVE, staff_id=None)
    assert await sessions.viewer_for_token(conn, tokens[0]) is None
    other = await sessions.viewer_for_token(conn, other_token)
    assert other is not None and other.client_id == other_id


async def test_session_tokens_are_stored_only_hashed(conn: asyncpg.Connection) -> None:
    await add_client(conn)
    token = await sessions.start_session(conn, await login_id_of(conn, "joe@example.com"), ttl=TTL)
    assert len(token) >= 32
    stored = await conn.fetchrow("SELECT token_hash, s::text AS whole FROM sessions s")
    assert token not in stored["whole"]
    assert token.encode() not in bytes(stored["token_hash"])


async def test_expired_sessions_give_no_viewer(conn: asyncpg.Connection) -> None:
    await add_client(conn)
    token = await sessions.start_session(conn, await login_id_of(conn, "joe@example.com"), ttl=TTL)
    expires_in = await conn.fetchval("SELECT expires_at - now() FROM sessions")
    assert TTL - timedelta(minutes=1) < expires_in <= TTL
    assert await sessions.viewer_for_token(conn, token) is not None

    await conn.execute("UPDATE sessions SET expires_at = now() - interval '1 second'")
    assert await sessions.viewer_for_token(conn, token) is None
    assert await sessions.delete_expired_sessions(conn) == 1


async def test_ending_a_session_ends_only_that_one(conn: asyncpg.Connection) -> None:
    await add_client(conn)
    login_id = await login_id_of(conn, "joe@example.com")
    first = await sessions.start_session(conn, login_id, ttl=TTL)
    second = await sessions.start_session(conn, login_id, ttl=TTL)
    await sessions.end_session(conn, first)
    assert await sessions.viewer_for_token(conn, first) is None
    assert await sessions.viewer_for_token(conn, second) is not None


async def test_5_4_login_rehashes_a_hash_with_older_argon2_parameters(
    conn: asyncpg.Connection, throttle: LoginThrottle, pool: asyncpg.Pool
) -> None:
    await add_client(conn, password_hash=OLD_HASH)
    assert passwords.needs_rehash(OLD_HASH)

    assert await attempt(pool, throttle, "joe@example.com") is None

    new_hash = await stored_hash(conn, "joe@example.com")
    assert new_hash != OLD_HASH
    assert new_hash.startswith("$argon2id$")
    assert not passwords.needs_rehash(new_hash)
    assert await passwords.verify_password(new_hash, PASSWORD)


async def test_5_4_new_argon2_parameters_between_two_logins_rehash_at_the_second(
    conn: asyncpg.Connection,
    throttle: LoginThrottle,
    pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The installation raises its parameters (here: other ones, cheap for the test) between
    two logins; the second login stores a hash made with them."""
    await add_client(conn, password_hash=CURRENT_HASH)
    assert await attempt(pool, throttle, "joe@example.com") is None
    assert await stored_hash(conn, "joe@example.com") == CURRENT_HASH

    changed = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", changed)
    assert await attempt(pool, throttle, "joe@example.com") is None

    rehashed = await stored_hash(conn, "joe@example.com")
    parameters = argon2.extract_parameters(rehashed)
    assert (parameters.time_cost, parameters.memory_cost, parameters.parallelism) == (1, 8192, 1)
    assert changed.verify(rehashed, PASSWORD)
    assert not passwords.needs_rehash(rehashed)


async def test_5_4_a_current_hash_or_a_refused_login_is_not_rehashed(
    conn: asyncpg.Connection, throttle: LoginThrottle, pool: asyncpg.Pool
) -> None:
    await add_client(conn, password_hash=CURRENT_HASH)
    await add_client(conn, "old@example.com", password_hash=OLD_HASH)
    assert await attempt(pool, throttle, "joe@example.com") is None
    assert await attempt(pool, throttle, "old@example.com", "wrong-password") is not None
    assert await stored_hash(conn, "joe@example.com") == CURRENT_HASH
    assert await stored_hash(conn, "old@example.com") == OLD_HASH


async def test_5_4_failed_logins_are_throttled_per_account(
    conn: asyncpg.Connection, throttle: LoginThrottle, pool: asyncpg.Pool
) -> None:
    await add_client(conn, password_hash=OLD_HASH)
    await add_client(conn, "other@example.com")
    for _ in range(MAX_FAILURES):
        code = await attempt(pool, throttle, "joe@example.com", "wrong-password")
        assert code is ErrorCode.INVALID_CREDENTIALS
    # From this address the right password no longer helps, nor another spelling.
    for email in ["joe@example.com", " JOE@Example.com"]:
        assert await attempt(pool, throttle, email) is ErrorCode.TOO_MANY_ATTEMPTS
    assert await session_count(conn) == 0
    # Another account from the same address is not locked out, nor this one from elsewhere
    # (tests/domain/test_login_lockout.py).
    assert await attempt(pool, throttle, "other@example.com") is None


async def test_5_4_failed_logins_are_throttled_per_address(
    conn: asyncpg.Connection, redis: Redis, pool: asyncpg.Pool
) -> None:
    throttle = LoginThrottle(redis, max_failures=1, cooldown_seconds=60)
    emails = [f"guess{i}@example.com" for i in range(ADDRESS_BUDGET_FACTOR)]
    for email in emails:
        await add_client(conn, email, password_hash=OLD_HASH)
    await add_client(conn)
    # Guessing across many accounts from one address: each account stays within its budget.
    for email in emails:
        assert await attempt(pool, throttle, email, "guess") is ErrorCode.INVALID_CREDENTIALS
    assert await attempt(pool, throttle, "joe@example.com") is ErrorCode.TOO_MANY_ATTEMPTS
    # From elsewhere the account still works.
    assert await attempt(pool, throttle, "joe@example.com", ip_address="203.0.113.9") is None


async def test_5_4_logins_spend_the_password_hash_budget_even_when_they_succeed(
    conn: asyncpg.Connection, redis: Redis, pool: asyncpg.Pool
) -> None:
    throttle = LoginThrottle(redis, max_failures=MAX_FAILURES, cooldown_seconds=60, hash_budget=2)
    await add_client(conn)
    await add_client(conn, "other@example.com")
    for _ in range(2):
        assert await attempt(pool, throttle, "joe@example.com") is None
    assert await attempt(pool, throttle, " JOE@example.com") is ErrorCode.TOO_MANY_ATTEMPTS
    assert await session_count(conn) == 2
    # Refused before any hash, and no failed guess: the account's failure count is untouched.
    assert int(await redis.get("login-failures:account:joe@example.com") or 0) == 0
    assert await attempt(pool, throttle, "other@example.com") is None


async def test_5_4_logins_spend_the_password_hash_budget_of_their_address(
    conn: asyncpg.Connection, redis: Redis, pool: asyncpg.Pool
) -> None:
    throttle = LoginThrottle(redis, max_failures=MAX_FAILURES, cooldown_seconds=60, hash_budget=1)
    emails = [f"login{i}@example.com" for i in range(ADDRESS_BUDGET_FACTOR)]
    for email in [*emails, "joe@example.com"]:
        await add_client(conn, email, password_hash=OLD_HASH)
    for email in emails:
        assert await attempt(pool, throttle, email) is None
    assert await attempt(pool, throttle, "joe@example.com") is ErrorCode.TOO_MANY_ATTEMPTS
    assert await attempt(pool, throttle, "joe@example.com", ip_address="203.0.113.9") is None


async def test_5_4_a_successful_login_resets_the_account_count(
    conn: asyncpg.Connection, throttle: LoginThrottle, pool: asyncpg.Pool
) -> None:
    await add_client(conn, password_hash=OLD_HASH)
    for _ in range(2):
        for _ in range(MAX_FAILURES - 1):
            assert await attempt(pool, throttle, "joe@example.com", "wrong") is not None
        assert await attempt(pool, throttle, "joe@example.com") is None
        await conn.execute("UPDATE logins SET password_hash = $1", OLD_HASH)


async def test_5_4_failed_logins_are_throttled_across_concurrent_attempts(
    pool: asyncpg.Pool, throttle: LoginThrottle
) -> None:
    async with pool.acquire() as conn:
        await add_client(conn, password_hash=OLD_HASH)

    guesses = (attempt(pool, throttle, "joe@example.com", f"guess-{n}") for n in range(8))
    codes = await asyncio.gather(*guesses)
    # Only MAX_FAILURES passwords were tried; the others were refused without a check.
    assert codes.count(ErrorCode.INVALID_CREDENTIALS) == MAX_FAILURES
    assert codes.count(ErrorCode.TOO_MANY_ATTEMPTS) == 8 - MAX_FAILURES


async def test_5_4_the_cool_down_ends(
    conn: asyncpg.Connection, redis: Redis, pool: asyncpg.Pool
) -> None:
    throttle = LoginThrottle(redis, max_failures=1, cooldown_seconds=1)
    await add_client(conn, password_hash=OLD_HASH)
    assert await attempt(pool, throttle, "joe@example.com", "wrong") is (
        ErrorCode.INVALID_CREDENTIALS
    )
    assert await attempt(pool, throttle, "joe@example.com") is ErrorCode.TOO_MANY_ATTEMPTS
    await asyncio.sleep(1.1)
    assert await attempt(pool, throttle, "joe@example.com") is None


async def test_5_1_login_with_totp_needs_a_valid_code(
    conn: asyncpg.Connection, throttle: LoginThrottle, pool: asyncpg.Pool
) -> None:
    await add_client(conn, password_hash=OLD_HASH)
    secret = await turn_on_two_factor(conn, "joe@example.com")
    totp = pyotp.TOTP(secret)

    assert await attempt(pool, throttle, "joe@example.com") is ErrorCode.TOTP_REQUIRED
    code = await attempt(pool, throttle, "joe@example.com", totp_code=wrong_code(secret))
    assert code is ErrorCode.INVALID_CREDENTIALS
    # A good code does not make up for a wrong password.
    code = await attempt(pool, throttle, "joe@example.com", "wrong", totp_code=totp.now())
    assert code is ErrorCode.INVALID_CREDENTIALS
    assert await session_count(conn) == 0
    assert await attempt(pool, throttle, "joe@example.com", totp_code=totp.now()) is None
    assert await session_count(conn) == 1


async def test_5_4_wrong_totp_codes_count_as_failed_logins(
    conn: asyncpg.Connection, throttle: LoginThrottle, pool: asyncpg.Pool
) -> None:
    await add_client(conn, password_hash=OLD_HASH)
    secret = await turn_on_two_factor(conn, "joe@example.com")
    for n in range(MAX_FAILURES):
        code = await attempt(pool, throttle, "joe@example.com", totp_code=wrong_code(secret, 5 + n))
        assert code is ErrorCode.INVALID_CREDENTIALS
    code = await attempt(pool, throttle, "joe@example.com", totp_code=pyotp.TOTP(secret).now())
    assert code is ErrorCode.TOO_MANY_ATTEMPTS


async def test_5_4_a_right_password_awaiting_its_totp_code_is_no_failure(
    conn: asyncpg.Connection, throttle: LoginThrottle, pool: asyncpg.Pool
) -> None:
    await add_client(conn, password_hash=OLD_HASH)
    secret = await turn_on_two_factor(conn, "joe@example.com")
    for _ in range(MAX_FAILURES):
        assert await attempt(pool, throttle, "joe@example.com") is ErrorCode.TOTP_REQUIRED
    code = await attempt(pool, throttle, "joe@example.com", totp_code=pyotp.TOTP(secret).now())
    assert code is None


async def test_5_1_a_totp_code_is_accepted_only_once(
    conn: asyncpg.Connection, throttle: LoginThrottle, pool: asyncpg.Pool
) -> None:
    await add_client(conn)
    await add_client(conn, "ann@example.com")
    secret = await turn_on_two_factor(conn, "joe@example.com")
    code = pyotp.TOTP(secret).now()
    assert await attempt(pool, throttle, "joe@example.com", totp_code=code) is None
    replayed = await attempt(pool, throttle, "joe@example.com", totp_code=code)
    assert replayed is ErrorCode.INVALID_CREDENTIALS
    assert await session_count(conn) == 1
    # Codes are remembered per login: another login with the same secret is not affected.
    assert await attempt(pool, throttle, "ann@example.com", totp_code=code) is None
