"""Moving client files' bytes from one store to another (`clientdesk move-files`).

Safe to stop at any point and to run again: a file is copied only when the target lacks it,
and every store writes a file all or nothing, so after a crash a file is either whole in
the target (skipped next time) or absent (copied next time). Source bytes are removed only
once the target has them, and only when asked: hosts still reading the old store keep
finding them until the setting has changed everywhere.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from domain.files.storage import FileStore, MissingBytes


class Moved(enum.Enum):
    COPIED = "copied"
    ALREADY_THERE = "already there"
    MISSING = "missing from the source"
    DELETED = "deleted meanwhile"


@dataclass
class MoveResult:
    counts: dict[Moved, int] = field(default_factory=lambda: dict.fromkeys(Moved, 0))
    # The stored names whose bytes neither store has: files that cannot be downloaded.
    missing: list[str] = field(default_factory=list)


# Every row naming bytes in the store: client files (kind 1), ticket attachments (kind 2).
_STORED = """SELECT 1 AS kind, id, stored_name FROM client_files
    UNION ALL SELECT 2, id, stored_name FROM ticket_attachments"""


async def files_to_move(conn: asyncpg.Connection) -> list[str]:
    """The stored names of every client file, oldest first, then of every ticket
    attachment."""
    return [
        row["stored_name"]
        for row in await conn.fetch(
            f"""SELECT stored_name FROM ({_STORED}) stored ORDER BY kind, id"""
        )
    ]


async def move_files(
    pool: asyncpg.Pool,
    stored_names: list[str],
    source: FileStore,
    target: FileStore,
    *,
    remove_source: bool,
    on_file: Callable[[Moved], None] = lambda _: None,
) -> MoveResult:
    """Copy each file's bytes into `target` unless they are there already (then, with
    `remove_source`, remove them from `source`); `on_file` hears of each file done."""
    if source.kind == target.kind:
        raise ValueError(f"the source and the target are both the {source.kind} store")
    result = MoveResult()
    for name in stored_names:
        outcome = await _move_one(pool, name, source, target)
        if outcome is Moved.MISSING:
            result.missing.append(name)
        elif remove_source and outcome is not Moved.DELETED:
            await source.remove([name])
        result.counts[outcome] += 1
        on_file(outcome)
    return result


async def _move_one(pool: asyncpg.Pool, name: str, source: FileStore, target: FileStore) -> Moved:
    if await target.has(name):
        return Moved.ALREADY_THERE
    try:
        chunks = await source.open(name)
    except MissingBytes:
        return Moved.MISSING
    await target.write(name, chunks)
    # A file deleted while it was copied: its delete removed the bytes from the store the
    # deleting host uses, perhaps not from this target; they would be nobody's.
    if not await pool.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM ({_STORED}) stored WHERE stored_name = $1)", name
    ):
        await target.remove([name])
        return Moved.DELETED
    return Moved.COPIED
