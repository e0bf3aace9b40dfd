"""SPEC 5.4: failed logins lock an address out of an account, not the account's owner out of
every address; a distributed guesser still has a bound per account (issue 17, defect 7).
Against the real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pyotp
import pytest
from redis.asyncio import Redis

from domain.auth.permissions import StaffRole
from domain.auth.staff import create_staff
from domain.auth.throttle import ACCOUNT_BUDGET_FACTOR, LoginThrottle
from domain.errors import ErrorCode
from tests.conftest import Services, turn_on_two_factor
from tests.domain.test_auth import MAX_FAILURES, OLD_HASH, PASSWORD, add_client, attempt

GUESSER = "203.0.113.66"
OWNER = "198.51.100.7"


@pytest.fixture
async def redis(services: Services) -> AsyncIterator[Redis]:
    client = Redis.from_url(services.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def throttle(redis: Redis) -> LoginThrottle:
    return LoginThrottle(redis, max_failures=MAX_FAILURES, cooldown_seconds=60)


async def add_admin(conn: asyncpg.Connection, email: str = "admin@staff.example.com") -> None:
    await create_staff(
        conn,
        email=email,
        password=PASSWORD,
        first_name="Ada",
        last_name="Min",
        role=StaffRole.ADMIN,
    )
    await conn.execute("UPDATE logins SET password_hash = $2 WHERE email = $1", email, OLD_HASH)


@pytest.mark.parametrize("account", ["client", "admin"])
async def test_5_4_failures_from_one_address_lock_only_that_address_out_of_the_account(
    conn: asyncpg.Connection, throttle: LoginThrottle, pool: asyncpg.Pool, account: str
) -> None:
    email = "joe@example.com" if account == "client" else "admin@staff.example.com"
    if account == "client":
        await add_client(conn, password_hash=OLD_HASH)
    else:
        await add_admin(conn)
    totp = pyotp.TOTP(await turn_on_two_factor(conn, email))
    for _ in range(MAX_FAILURES):
        guess = await attempt(pool, throttle, email, "wrong", ip_address=GUESSER)
        assert guess is ErrorCode.INVALID_CREDENTIALS
    # The guessing address is refused, even with the right password and code...
    locked = await attempt(pool, throttle, email, totp_code=totp.now(), ip_address=GUESSER)
    assert locked is ErrorCode.TOO_MANY_ATTEMPTS
    # ...the owner from elsewhere logs in, and that does not lift the guesser's lockout.
    assert await attempt(pool, throttle, email, totp_code=totp.now(), ip_address=OWNER) is None
    still = await attempt(pool, throttle, email, "wrong", ip_address=GUESSER)
    assert still is ErrorCode.TOO_MANY_ATTEMPTS


async def test_5_4_the_account_bound_holds_across_many_addresses(
    conn: asyncpg.Connection, throttle: LoginThrottle, pool: asyncpg.Pool
) -> None:
    await add_client(conn, password_hash=OLD_HASH)
    await add_client(conn, "other@example.com", password_hash=OLD_HASH)
    bound = MAX_FAILURES * ACCOUNT_BUDGET_FACTOR
    # Twice as many addresses as the bound needs, all guessing at once, each its full share.
    addresses = [f"192.0.2.{n}" for n in range(2 * ACCOUNT_BUDGET_FACTOR)]
    guesses = [
        attempt(pool, throttle, "joe@example.com", f"guess-{n}", ip_address=address)
        for address in addresses
        for n in range(MAX_FAILURES)
    ]
    codes = await asyncio.gather(*guesses)
    assert codes.count(ErrorCode.INVALID_CREDENTIALS) == bound
    assert codes.count(ErrorCode.TOO_MANY_ATTEMPTS) == len(guesses) - bound
    # Spent for every address, the right password included; other accounts are untouched.
    assert await attempt(pool, throttle, "joe@example.com", ip_address=OWNER) is (
        ErrorCode.TOO_MANY_ATTEMPTS
    )
    assert await attempt(pool, throttle, "other@example.com", ip_address=addresses[0]) is None


async def test_5_4_guesses_from_one_address_leave_the_owner_their_password_hash_budget(
    conn: asyncpg.Connection, redis: Redis, pool: asyncpg.Pool
) -> None:
    """A login's hashes are budgeted per account and address too: a budget per account alone
    was another way to lock the owner out."""
    throttle = LoginThrottle(redis, max_failures=MAX_FAILURES, cooldown_seconds=60, hash_budget=2)
    await add_client(conn, password_hash=OLD_HASH)
    for _ in range(2):
        guess = await attempt(pool, throttle, "joe@example.com", "wrong", ip_address=GUESSER)
        assert guess is ErrorCode.INVALID_CREDENTIALS
    assert await attempt(pool, throttle, "joe@example.com", ip_address=GUESSER) is (
        ErrorCode.TOO_MANY_ATTEMPTS
    )
    assert await attempt(pool, throttle, "joe@example.com", PASSWORD, ip_address=OWNER) is None
