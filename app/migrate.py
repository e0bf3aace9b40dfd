"""Apply the numbered SQL files in `migrations/` in order, each once.

dbmate-style files: the part after `-- migrate:up` (up to an optional `-- migrate:down`) is
applied. Each file runs in its own transaction and is recorded with its checksum; an applied
file whose text has changed is refused rather than silently diverging. A session-level
advisory lock makes concurrent runners (several API processes starting) wait for each other.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

# A link to the top-level migrations/ in the source tree; installed, a copy in the package.
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = 7_305_144_918_201  # any constant shared by every runner of this schema
_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    """The database and the migration files disagree; a person has to look."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str
    checksum: str


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in order. None at all means a broken installation, never "done"."""
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            continue  # schema.sql, the committed dump, is not a migration
        text = path.read_text(encoding="utf-8")
        up = text.split("-- migrate:down", 1)[0]
        if "-- migrate:up" not in up:
            raise MigrationError(f"{path.name} has no '-- migrate:up' section")
        migrations.append(
            Migration(
                version=match.group(1),
                name=path.stem,
                sql=up.split("-- migrate:up", 1)[1],
                checksum=hashlib.sha256(text.encode()).hexdigest(),
            )
        )
    if not migrations:
        raise MigrationError(f"no migration files in {directory}: the installation is incomplete")
    return migrations


async def pending_migrations(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    """Names of the migrations the database has not applied yet (all, on an empty database)."""
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return [m.name for m in migrations]
    applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    return [m.name for m in migrations if m.version not in applied]


async def migrate(
    conn: asyncpg.Connection,
    migrations: list[Migration] | None = None,
    on_apply: Callable[[Migration], None] | None = None,
) -> list[Migration]:
    """Apply what is pending; return the migrations applied by this call."""
    migrations = load_migrations() if migrations is None else migrations
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version     text PRIMARY KEY,
                   name        text NOT NULL,
                   checksum    text NOT NULL,
                   applied_at  timestamptz NOT NULL DEFAULT now()
               )"""
        )
        applied = {
            row["version"]: row
            for row in await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        }
        done = []
        for migration in migrations:
            recorded = applied.get(migration.version)
            if recorded is not None:
                if recorded["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"{migration.name}.sql was changed after it was applied; add a new "
                        "migration instead of editing an applied one"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            done.append(migration)
            if on_apply is not None:
                on_apply(migration)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
