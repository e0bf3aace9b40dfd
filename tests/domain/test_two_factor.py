"""Two-factor login (SPEC 1.7): set up and confirmed by the login, only disabled by staff, its
secret encrypted at rest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pyotp
import pytest
from redis.asyncio import Redis

from domain.auth import recovery_codes, two_factor
from domain.auth.throttle import LoginThrottle
from domain.cards.crypto import CardKeyring, generate_key
from domain.clients import services as client_services
from domain.clients.queries import get_client
from domain.errors import DomainError, ErrorCode
from tests.conftest import CARD_KEY, TEST_KEYRING, Services

EMAIL = "joe@example.com"


@pytest.fixture
async def throttle(services: Services) -> AsyncIterator[LoginThrottle]:
    redis = Redis.from_url(services.redis_url)
    yield LoginThrottle(redis, max_failures=5, cooldown_seconds=60)
    await redis.aclose()


async def add_client(conn: asyncpg.Connection) -> tuple[int, int]:
    """A client; returns (client id, its holder's login id)."""
    client = await client_services.add_client(
        conn,
        {"first_name": "Joe", "last_name": "Bloggs", "email": EMAIL},
        password=None,
        staff_id=None,
        send_welcome_email=False,
        client_area_url="http://127.0.0.1:8000",
    )
    return client.id, client.owner_login_id


async def enabled(conn: asyncpg.Connection, client_id: int) -> bool:
    client = await get_client(conn, client_id)
    assert client is not None
    return client.two_factor_enabled


async def confirm(
    conn: asyncpg.Connection, throttle: LoginThrottle, login_id: int, code: str
) -> None:
    await two_factor.confirm_two_factor_setup(
        conn,
        login_id,
        code,
        TEST_KEYRING,
        code_unused=lambda used: throttle.claim_totp_code(login_id, used),
    )


async def test_1_7_the_client_turns_two_factor_on_with_a_confirmation_code(
    conn: asyncpg.Connection, throttle: LoginThrottle
) -> None:
    client_id, login_id = await add_client(conn)
    setup = await two_factor.begin_two_factor_setup(conn, login_id, EMAIL, TEST_KEYRING)
    assert setup.otpauth_uri.startswith("otpauth://totp/clientdesk:joe%40example.com?secret=")
    assert not await enabled(conn, client_id)  # not before the confirmation

    totp = pyotp.TOTP(setup.secret)
    for wrong in ("", "abcdef", f"{(int(totp.now()) + 5) % 1_000_000:06d}"):
        with pytest.raises(DomainError) as refused:
            await confirm(conn, throttle, login_id, wrong)
        assert refused.value.errors[0].code is ErrorCode.INVALID_CREDENTIALS
    assert not await enabled(conn, client_id)

    await confirm(conn, throttle, login_id, totp.now())
    assert await enabled(conn, client_id)


async def test_1_7_a_confirmation_code_cannot_be_used_twice(
    conn: asyncpg.Connection, throttle: LoginThrottle
) -> None:
    client_id, login_id = await add_client(conn)
    setup = await two_factor.begin_two_factor_setup(conn, login_id, EMAIL, TEST_KEYRING)
    code = pyotp.TOTP(setup.secret).now()
    assert await throttle.claim_totp_code(login_id, code)  # seen once already
    with pytest.raises(DomainError):
        await confirm(conn, throttle, login_id, code)
    assert not await enabled(conn, client_id)


async def test_1_7_the_totp_secret_is_stored_only_encrypted_and_never_shown_again(
    conn: asyncpg.Connection, throttle: LoginThrottle
) -> None:
    _, login_id = await add_client(conn)
    setup = await two_factor.begin_two_factor_setup(conn, login_id, EMAIL, TEST_KEYRING)
    await confirm(conn, throttle, login_id, pyotp.TOTP(setup.secret).now())

    row = await conn.fetchrow("SELECT * FROM logins WHERE id = $1", login_id)
    assert setup.secret not in str(dict(row))
    assert setup.secret.encode() not in row["totp_ciphertext"]
    assert two_factor.open_totp_secret(TEST_KEYRING, login_id, row) == setup.secret
    # Bound to its login: copied to another login's row, it does not open.
    with pytest.raises(ValueError, match="does not decrypt"):
        two_factor.open_totp_secret(TEST_KEYRING, login_id + 1, row)
    # Once on, no new setup (and so no secret) is handed out.
    with pytest.raises(DomainError) as refused:
        await two_factor.begin_two_factor_setup(conn, login_id, EMAIL, TEST_KEYRING)
    assert refused.value.errors[0].code is ErrorCode.CONFLICT


async def test_1_7_without_encryption_keys_two_factor_is_refused(
    conn: asyncpg.Connection,
) -> None:
    _, login_id = await add_client(conn)
    with pytest.raises(DomainError) as refused:
        await two_factor.begin_two_factor_setup(conn, login_id, EMAIL, None)
    assert refused.value.errors[0].code is ErrorCode.NOT_CONFIGURED


async def test_1_7_10_3_staff_disable_two_factor_and_it_is_audited(
    conn: asyncpg.Connection, throttle: LoginThrottle
) -> None:
    client_id, login_id = await add_client(conn)
    setup = await two_factor.begin_two_factor_setup(conn, login_id, EMAIL, TEST_KEYRING)
    await confirm(conn, throttle, login_id, pyotp.TOTP(setup.secret).now())

    client = await two_factor.disable_client_two_factor(conn, client_id, staff_id=None)

    assert not client.two_factor_enabled
    row = await conn.fetchrow("SELECT totp_ciphertext FROM logins WHERE id = $1", login_id)
    assert row["totp_ciphertext"] is None
    [entry] = await conn.fetch(
        "SELECT client_id, changes FROM audit_log WHERE action = 'client.two_factor_disabled'"
    )
    assert entry["client_id"] == client_id
    assert entry["changes"] == {"twoFactorEnabled": {"from": True, "to": False}}


async def test_4_3_rotating_the_keys_re_encrypts_totp_secrets(
    conn: asyncpg.Connection, throttle: LoginThrottle
) -> None:
    _, login_id = await add_client(conn)
    setup = await two_factor.begin_two_factor_setup(conn, login_id, EMAIL, TEST_KEYRING)
    new_key = generate_key(2)

    assert await two_factor.rotate_totp_keys(conn, CardKeyring.parse(f"{new_key},{CARD_KEY}")) == 1

    row = await conn.fetchrow("SELECT * FROM logins WHERE id = $1", login_id)
    assert row["totp_key_version"] == 2
    assert two_factor.open_totp_secret(CardKeyring.parse(new_key), login_id, row) == setup.secret


async def test_11_2_a_recovery_code_works_once_even_used_twice_at_the_same_moment(
    conn: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    _, login_id = await add_client(conn)
    codes = await recovery_codes.issue(conn, login_id)

    async def use(code: str) -> bool:
        async with pool.acquire() as other, other.transaction():
            return await recovery_codes.use(other, login_id, code)

    # Each on its own connection: the row lock of one makes the other see the code spent.
    assert sorted(await asyncio.gather(*(use(codes[0]) for _ in range(4)))) == [
        False,
        False,
        False,
        True,
    ]
    assert not await recovery_codes.use(conn, login_id, codes[0])
    assert await recovery_codes.use(conn, login_id, codes[1].upper().replace("-", ""))
    assert not await recovery_codes.use(conn, login_id, "123456")  # an authenticator's code
