"""The API pool gives a released connection to the next request without a reset round
trip, which is safe only while the API's code changes no session state."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import pytest

from app import db
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# SQL that would leave state in a session for the next user of a pooled connection
# (`SET LOCAL` and `set_config(…, true)` end with their transaction, which asyncpg rolls
# back on release if open).
SESSION_CHANGES = re.compile(
    r"pg_advisory_lock\(|pg_try_advisory_lock\(|set_config\((?![^)]*,\s*true\s*\))"
    r"|\bLISTEN\b|WITH HOLD"
    r"|(?:[\"']|; )(?:SET (?!LOCAL )|RESET )|CREATE TEMP(?:ORARY)? TABLE (?![^;]*ON COMMIT DROP)"
)
# Run on connections of their own: the workers' pool (which resets), migrations, the cache
# and the events hub (both listen on DATABASE_DIRECT_URL).
OWN_CONNECTIONS = {
    "domain/automation/runs.py",
    "app/migrate.py",
    "app/db.py",
    "domain/reference_cache.py",
    "domain/events/hub.py",
}


def test_the_api_code_changes_no_session_state() -> None:
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)!r}"
        for folder in ("app", "domain", "resolvers", "schema")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if str(path.relative_to(ROOT)) not in OWN_CONNECTIONS
        for match in SESSION_CHANGES.finditer(path.read_text())
    ]
    assert found == []


def test_the_session_check_finds_what_it_looks_for() -> None:
    for sql in (
        'execute("SET statement_timeout = 0")',
        "fetchval('SELECT pg_advisory_lock(1)')",
        "CREATE TEMP TABLE x AS SELECT 1",
        'execute("LISTEN x")',
        "SELECT set_config('x.y', $1, false)",
    ):
        assert SESSION_CHANGES.search(sql), sql
    assert not SESSION_CHANGES.search("CREATE TEMP TABLE due ON COMMIT DROP AS SELECT 1")
    assert not SESSION_CHANGES.search("UPDATE clients SET status = $1")
    assert not SESSION_CHANGES.search("SELECT set_config('x.y', $1, true)")


@pytest.mark.parametrize(("reset_sessions", "resets"), [(True, 1), (False, 0)])
async def test_a_released_connection_is_reset_only_by_pools_that_reset_sessions(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, reset_sessions: bool, resets: int
) -> None:
    statements: list[str] = []
    app_init = db._init_connection

    async def init(conn: asyncpg.Connection) -> None:
        await app_init(conn)
        conn.add_query_logger(lambda record: statements.append(record.query))

    monkeypatch.setattr(db, "_init_connection", init)
    pool = await db.create_pool(
        settings.database_url, min_size=1, max_size=1, reset_sessions=reset_sessions
    )
    try:
        for _ in range(2):
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
            # An open transaction is still rolled back, whichever reset the pool uses.
            conn = await pool.acquire()
            await conn.execute("BEGIN")
            await pool.release(conn)
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
    finally:
        await pool.close()
    assert sum("pg_advisory_unlock_all" in s for s in statements) == 5 * resets
