"""SPEC 5.4 through the API: wrong passwords from one address lock that address out of the
account, while its owner (the admin included) still logs in from elsewhere (issue 17)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import asyncpg
import httpx
import pyotp
import pytest

from app.settings import Settings
from app.web import create_app
from domain.auth.permissions import StaffRole
from domain.auth.throttle import ACCOUNT_BUDGET_FACTOR
from tests.api.test_auth import OLD_HASH, PASSWORD, add_client, error_codes, post_login
from tests.conftest import turn_on_two_factor

ADMIN = "admin@staff.example.com"
From = Callable[[str], httpx.AsyncClient]


@pytest.fixture
async def from_address(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[From]:
    """HTTP clients of one running app, each connecting from the address it is given."""
    app = create_app(settings)
    async with app.router.lifespan_context(app), AsyncExitStack() as clients:
        made: dict[str, httpx.AsyncClient] = {}

        def client(address: str) -> httpx.AsyncClient:
            if address not in made:
                transport = httpx.ASGITransport(app=app, client=(address, 40000))
                made[address] = httpx.AsyncClient(transport=transport, base_url="http://testserver")
                clients.push_async_callback(made[address].aclose)
            return made[address]

        yield client


async def add_admin(conn: asyncpg.Connection) -> None:
    login_id = await conn.fetchval(
        "INSERT INTO logins (email, password_hash) VALUES ($1, $2) RETURNING id", ADMIN, OLD_HASH
    )
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) VALUES ($1, 'Ada', 'Min', $2)",
        login_id,
        StaffRole.ADMIN.value,
    )


@pytest.mark.parametrize("email", ["joe@example.com", ADMIN])
async def test_5_4_wrong_passwords_from_one_address_leave_the_owner_elsewhere_logging_in(
    from_address: From, conn: asyncpg.Connection, settings: Settings, email: str
) -> None:
    if email == ADMIN:
        await add_admin(conn)
    else:
        await add_client(conn, password_hash=OLD_HASH)
    totp = pyotp.TOTP(await turn_on_two_factor(conn, email))
    guesser, owner = from_address("203.0.113.66"), from_address("198.51.100.7")
    for _ in range(settings.login_max_failures):
        _, payload = await post_login(guesser, email, "wrong-password")
        assert error_codes(payload) == ["INVALID_CREDENTIALS"]
    _, payload = await post_login(guesser, email, PASSWORD, totp.now())
    assert error_codes(payload) == ["TOO_MANY_ATTEMPTS"]

    _, payload = await post_login(owner, email, PASSWORD, totp.now())
    assert payload["errors"] == [] and payload["token"]


async def test_5_4_the_account_bound_holds_across_many_addresses(
    from_address: From, conn: asyncpg.Connection, settings: Settings
) -> None:
    await add_client(conn, password_hash=OLD_HASH)
    bound = settings.login_max_failures * ACCOUNT_BUDGET_FACTOR
    codes = []
    for n in range(ACCOUNT_BUDGET_FACTOR + 1):
        for _ in range(settings.login_max_failures):
            _, payload = await post_login(from_address(f"192.0.2.{n}"), "joe@example.com", "guess")
            codes.append(error_codes(payload))
    assert codes.count(["INVALID_CREDENTIALS"]) == bound
    assert codes[bound:] == [["TOO_MANY_ATTEMPTS"]] * settings.login_max_failures
    _, payload = await post_login(from_address("198.51.100.7"), "joe@example.com", PASSWORD)
    assert error_codes(payload) == ["TOO_MANY_ATTEMPTS"]
