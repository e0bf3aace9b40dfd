"""Which failures are outages (app/outages.py), each met for real: a dependency nobody
answers on, a connection PostgreSQL ends, and failures that are not outages at all.
tests/faults/test_outages.py stops the real servers and checks the answers."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
import redis.asyncio
import redis.exceptions

from app import db
from app.devservices import free_port
from app.outages import is_outage


async def test_postgres_not_listening_is_an_outage_and_still_an_os_error() -> None:
    pool = await db.create_pool(f"postgresql://nobody@127.0.0.1:{free_port()}/none", min_size=0)
    try:
        with pytest.raises(db.DatabaseUnreachable) as raised:
            await pool.acquire()
    finally:
        await pool.close()
    assert is_outage(raised.value) and isinstance(raised.value, OSError)


async def test_redis_not_listening_is_an_outage() -> None:
    client = redis.asyncio.Redis(port=free_port())
    try:
        with pytest.raises(redis.exceptions.ConnectionError) as raised:
            await client.ping()
    finally:
        await client.aclose()
    assert is_outage(raised.value)


async def test_a_rollback_on_a_connection_postgres_ended_is_an_outage(
    pool: asyncpg.Pool,
) -> None:
    """The InterfaceError of the rollback counts by the lost connection it handles."""
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        except asyncpg.PostgresError:
            with pytest.raises(asyncpg.InterfaceError) as raised:
                await transaction.rollback()
    assert is_outage(raised.value)


async def test_other_failures_are_not_outages(pool: asyncpg.Pool, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as missing_file:
        (tmp_path / "missing").read_bytes()
    with pytest.raises(asyncpg.PostgresError) as bad_sql:
        await pool.execute("SELECT 1 / 0")
    assert not is_outage(missing_file.value)
    assert not is_outage(bad_sql.value)
    assert not is_outage(None)
