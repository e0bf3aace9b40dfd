"""Two stores of client files' bytes (`storage.FileStore`): PostgreSQL, the default, which
every API host shares and one backup holds; and a directory, which only its own host sees
(or hosts that mount it)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import BinaryIO

import asyncpg

from domain.files.storage import CHUNK_BYTES, MissingBytes, check_stored_name

log = logging.getLogger(__name__)


class PostgresStore:
    """The bytes as `file_chunks` rows (migration 0029). A file is written in one
    transaction, so a failed or interrupted write leaves no chunk; it is read a chunk per
    query, each on a connection taken from the pool and given back at once, so that a slow
    download holds no connection while the client reads."""

    kind = "postgres"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def write(self, stored_name: str, chunks: AsyncIterator[bytes]) -> None:
        check_stored_name(stored_name)
        async with self._pool.acquire() as conn, conn.transaction():
            seq = 0
            async for chunk in chunks:
                await conn.execute(
                    "INSERT INTO file_chunks (stored_name, seq, data) VALUES ($1, $2, $3)",
                    stored_name,
                    seq,
                    chunk,
                )
                seq += 1
            if seq == 0:  # an empty file still has its (empty) chunk: see the migration
                await conn.execute(
                    "INSERT INTO file_chunks (stored_name, seq, data) VALUES ($1, 0, '')",
                    stored_name,
                )

    async def open(self, stored_name: str) -> AsyncIterator[bytes]:
        count = await self._pool.fetchval(
            "SELECT count(*) FROM file_chunks WHERE stored_name = $1", stored_name
        )
        if not count:
            raise MissingBytes(stored_name)
        return self._chunks(stored_name, count)

    async def _chunks(self, stored_name: str, count: int) -> AsyncIterator[bytes]:
        for seq in range(count):
            data = await self._pool.fetchval(
                "SELECT data FROM file_chunks WHERE stored_name = $1 AND seq = $2",
                stored_name,
                seq,
            )
            if data is None:
                raise MissingBytes(stored_name)
            yield data

    async def has(self, stored_name: str) -> bool:
        found: bool = await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM file_chunks WHERE stored_name = $1)", stored_name
        )
        return found

    async def remove(self, stored_names: Iterable[str]) -> None:
        names = list(stored_names)
        try:
            await self._pool.execute(
                "DELETE FROM file_chunks WHERE stored_name = ANY($1::text[])", names
            )
        except (OSError, asyncpg.PostgresError):
            log.warning("could not remove the chunks of stored files %r", names, exc_info=True)


class LocalStore:
    """The bytes as files of a directory, each named by its stored name. A file is written
    under a temporary name and renamed once complete, so a name in the directory always
    holds a whole file, even after a crash mid-write."""

    kind = "local"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, stored_name: str) -> Path:
        """Where a stored file's bytes are; ValueError for a name we would not have made."""
        return self.directory / check_stored_name(stored_name)

    async def write(self, stored_name: str, chunks: AsyncIterator[bytes]) -> None:
        path = self.path(stored_name)
        partial = path.with_name(f".{stored_name}.partial")
        handle = await asyncio.to_thread(_create, partial)
        try:
            with handle:
                async for chunk in chunks:
                    await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(os.replace, partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    async def open(self, stored_name: str) -> AsyncIterator[bytes]:
        try:
            handle = await asyncio.to_thread(self.path(stored_name).open, "rb")
        except (OSError, ValueError):
            raise MissingBytes(stored_name) from None
        return _read(handle)

    async def has(self, stored_name: str) -> bool:
        return await asyncio.to_thread(self.path(stored_name).is_file)

    async def remove(self, stored_names: Iterable[str]) -> None:
        for name in stored_names:
            try:
                self.path(name).unlink(missing_ok=True)
            except (OSError, ValueError):
                log.warning("could not remove stored file %r", name, exc_info=True)


def _create(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: a name collision (or a planted link) fails instead of writing through it.
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640), "wb")


async def _read(handle: BinaryIO) -> AsyncIterator[bytes]:
    with handle:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
