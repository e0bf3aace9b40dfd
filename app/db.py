"""The PostgreSQL pool: JSON columns decode to Python values, NUMERIC stays Decimal, and the
pool reports its size, connections in use and waits to /metrics."""

from __future__ import annotations

import json
import time
from typing import Any

import asyncpg

from app.metrics import POOL_IN_USE, POOL_SIZE, POOL_WAIT_SECONDS, POOL_WAITS


def _encode_json(value: object) -> str:
    # Decimals and dates in audit changes and email contexts are stored as their text.
    return json.dumps(value, default=str)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=_encode_json, decoder=json.loads, schema="pg_catalog"
        )


async def keep_session(conn: asyncpg.Connection) -> None:
    """The API pool's reset: no statement, where asyncpg by default sends one round trip
    (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) on every release.

    asyncpg still rolls back a transaction left open before calling this. Nothing else
    needs undoing: the API's code changes no session state (no SET, set_config, LISTEN,
    session advisory lock, cursor WITH HOLD or lasting temporary table;
    tests/app/test_db.py checks its SQL). The workers, which take the automation run's
    advisory lock, keep asyncpg's reset."""


def _server_settings(mail_domain: str | None) -> dict[str, str]:
    # The emails table's Message-ID default reads it (migrations/0009_message_id_mail_domain.sql).
    return {"clientdesk.mail_domain": mail_domain} if mail_domain else {}


class DatabaseUnreachable(ConnectionError):
    """No connection could be made to PostgreSQL: refused, no socket, or none in time.

    asyncpg lets the socket's OSError (or the connect timeout) through as it is; named
    here, it tells an outage (app/outages.py) from any other OSError, such as a file's.
    Still an OSError, for the code that catches those."""


class MeasuredPool(asyncpg.Pool):
    """An asyncpg pool that keeps its gauges current and counts the waits for a connection,
    and raises DatabaseUnreachable when none can be made.

    `_acquire` is asyncpg's one path for every acquisition (`acquire()` and `async with`);
    tests/api/test_observability.py notices if a release of asyncpg changes that."""

    name = "api"

    async def _acquire(self, timeout: float | None) -> Any:  # noqa: ASYNC109 (asyncpg's signature)
        exhausted = self.get_size() - self.get_idle_size() >= self.get_max_size()
        started = time.perf_counter()
        try:
            return await super()._acquire(timeout)
        except OSError as error:  # TimeoutError too: an OSError since Python 3.10
            raise DatabaseUnreachable(f"PostgreSQL cannot be reached: {error!r}") from error
        finally:
            if exhausted:
                POOL_WAITS.labels(self.name).inc()
                POOL_WAIT_SECONDS.labels(self.name).observe(time.perf_counter() - started)
            self._report()

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        try:
            await super().release(connection, timeout=timeout)
        finally:
            self._report()

    def _report(self) -> None:
        POOL_SIZE.labels(self.name).set(self.get_size())
        POOL_IN_USE.labels(self.name).set(self.get_size() - self.get_idle_size())


async def create_pool(
    database_url: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    mail_domain: str | None = None,
    name: str = "api",
    reset_sessions: bool = True,
    statement_cache_size: int = 100,
) -> asyncpg.Pool:
    """A pool named `name` in the metrics (asyncpg.create_pool's defaults otherwise).

    Without `reset_sessions` a released connection is given to the next user as it is
    (`keep_session`): for pools whose users change no session state. `statement_cache_size`
    0 is for PgBouncer's transaction pooling (DATABASE_STATEMENT_CACHE_SIZE in app/settings.py)."""
    pool = MeasuredPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        init=_init_connection,
        reset=None if reset_sessions else keep_session,
        server_settings=_server_settings(mail_domain),
        statement_cache_size=statement_cache_size,
    )
    pool.name = name
    await pool
    pool._report()
    return pool


async def connect(database_url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(database_url)
    await _init_connection(conn)
    return conn
