"""The settings and currencies the API keeps in its process follow changes made by any
other connection (a trigger notifies), and nothing is kept while it cannot listen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

import asyncpg
import pytest

from app.settings import Settings
from domain.reference_cache import APPLICATION_NAME, ReferenceCache
from domain.settings import ClientDisplayFormat, update_general_settings

T = TypeVar("T")


class CountedConnections:
    """Connections from the pool, counted: a kept value takes none."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.taken = 0

    def __call__(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        self.taken += 1
        return self.pool.acquire()  # type: ignore[no-any-return]


@pytest.fixture
async def cache(settings: Settings) -> AsyncIterator[ReferenceCache]:
    reference = ReferenceCache(settings.database_url, retry_seconds=0.05)
    await reference.start()
    assert reference.listening
    yield reference
    await reference.stop()


async def eventually(read: Callable[[], Awaitable[T]], wanted: T) -> T:
    """What `read` gives once it gives `wanted`, within two seconds."""
    for _ in range(200):
        value = await read()
        if value == wanted:
            return value
        await asyncio.sleep(0.01)
    return await read()


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)


async def test_a_kept_setting_changed_by_another_connection_is_seen(
    cache: ReferenceCache, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    connect = CountedConnections(pool)
    first = await cache.general_settings(connect)
    assert first.client_display_format is ClientDisplayFormat.NAME_ONLY
    await cache.general_settings(connect)
    assert connect.taken == 1  # kept

    await update_general_settings(conn, client_display_format=ClientDisplayFormat.COMPANY_IF_SET)

    async def format_now() -> ClientDisplayFormat:
        return (await cache.general_settings(connect)).client_display_format

    assert await eventually(format_now, ClientDisplayFormat.COMPANY_IF_SET) == (
        ClientDisplayFormat.COMPANY_IF_SET
    )


async def test_a_kept_currency_changed_by_another_connection_is_seen(
    cache: ReferenceCache, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    connect = CountedConnections(pool)
    before = (await cache.currencies(connect))["USD"].prefix

    async def usd_prefix() -> str:
        return (await cache.currencies(connect))["USD"].prefix

    try:
        await conn.execute("UPDATE currencies SET prefix = 'US$' WHERE code = 'USD'")
        assert await eventually(usd_prefix, "US$") == "US$"
    finally:
        await conn.execute("UPDATE currencies SET prefix = $1 WHERE code = 'USD'", before)


async def test_a_rolled_back_change_keeps_the_kept_value(
    cache: ReferenceCache, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    connect = CountedConnections(pool)
    await cache.general_settings(connect)
    transaction = conn.transaction()
    await transaction.start()
    await conn.execute("INSERT INTO settings (key, value) VALUES ('general', '{}')")
    await transaction.rollback()
    await asyncio.sleep(0.05)
    await cache.general_settings(connect)
    assert connect.taken == 1


async def test_the_cache_keeps_nothing_while_its_connection_is_lost_and_listens_again(
    cache: ReferenceCache, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    connect = CountedConnections(pool)
    await cache.general_settings(connect)
    # What a PostgreSQL restart does to the listening connection.
    terminated = await conn.fetchval(
        """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE application_name = $1""",
        APPLICATION_NAME,
    )
    assert terminated >= 1
    await until(lambda: not cache.listening)
    await update_general_settings(conn, client_display_format=ClientDisplayFormat.NAME_AND_COMPANY)
    await until(lambda: cache.listening)
    assert cache.listening

    async def format_now() -> ClientDisplayFormat:
        return (await cache.general_settings(connect)).client_display_format

    # Read again once it listens, kept again, and following changes again.
    assert await format_now() is ClientDisplayFormat.NAME_AND_COMPANY
    taken = connect.taken
    await format_now()
    assert connect.taken == taken
    await update_general_settings(conn, client_display_format=ClientDisplayFormat.NAME_ONLY)
    assert await eventually(format_now, ClientDisplayFormat.NAME_ONLY) is (
        ClientDisplayFormat.NAME_ONLY
    )


async def test_nothing_is_kept_while_the_cache_does_not_listen(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    reference = ReferenceCache(settings.database_url)  # not started
    connect = CountedConnections(pool)
    await reference.general_settings(connect)
    await reference.general_settings(connect)
    assert connect.taken == 2
