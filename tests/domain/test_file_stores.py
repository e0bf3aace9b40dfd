"""The stores of client files' bytes (SPEC 6.2), each against the real thing: PostgreSQL, a
directory, and S3 (moto's server on loopback). Whatever the store: bytes under a generated
name, streamed back in chunks, nothing left by a refused or failed write, missing bytes said
so, and files moved from one store to another safely again and again."""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from app.filestores import open_file_store
from app.settings import Settings
from domain.errors import DomainError
from domain.files import storage
from domain.files.moving import Moved, move_files
from domain.files.storage import CHUNK_BYTES, FileStore, MissingBytes
from domain.files.stores import LocalStore
from tests import conftest

STORES = ("postgres", "local", "s3")


class Source:
    """An upload being read: `total` bytes (a repeating pattern), counting what was read."""

    def __init__(self, total: int) -> None:
        self.content = bytes(range(256)) * (total // 256) + b"x" * (total % 256)
        self._data = io.BytesIO(self.content)
        self.read_bytes = 0

    async def read(self, size: int = -1) -> bytes:
        chunk = self._data.read(size)
        self.read_bytes += len(chunk)
        return chunk


@contextlib.asynccontextmanager
async def _open(
    kind: str,
    settings: Settings,
    pool: asyncpg.Pool,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[FileStore]:
    configured = settings.model_copy(update={"attachments_dir": tmp_path / kind})
    if kind == "s3":
        configured = request.getfixturevalue("s3_settings")
    async with open_file_store(configured, pool, kind) as store:
        yield store


@pytest.fixture(params=STORES)
async def store(
    request: pytest.FixtureRequest, settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> AsyncIterator[FileStore]:
    async with _open(request.param, settings, pool, tmp_path, request) as opened:
        yield opened


async def read_all(store: FileStore, stored_name: str) -> list[bytes]:
    return [chunk async for chunk in await store.open(stored_name)]


async def test_6_2_bytes_are_stored_under_a_generated_name_and_streamed_back_in_chunks(
    store: FileStore,
) -> None:
    source = Source(3 * CHUNK_BYTES + 1000)

    stored = await storage.store_upload(store, source, max_bytes=10 * CHUNK_BYTES)

    assert storage.STORED_NAME.fullmatch(stored.stored_name) and stored.size == len(source.content)
    chunks = await read_all(store, stored.stored_name)
    assert b"".join(chunks) == source.content
    assert max(len(chunk) for chunk in chunks) <= CHUNK_BYTES
    assert await store.has(stored.stored_name)


async def test_6_2_an_empty_file_is_stored_and_served_empty(store: FileStore) -> None:
    stored = await storage.store_upload(store, Source(0), max_bytes=1024)

    assert stored.size == 0 and await store.has(stored.stored_name)
    assert b"".join(await read_all(store, stored.stored_name)) == b""


async def test_6_2_an_oversized_upload_stops_at_the_limit_and_leaves_nothing(
    store: FileStore, pool: asyncpg.Pool
) -> None:
    source = Source(10 * 1024 * 1024)

    with pytest.raises(DomainError) as refused:
        await storage.store_upload(store, source, max_bytes=600_000)

    assert refused.value.errors[0].field == "file"
    # Read a chunk past the limit, not the 10 MiB: memory and the store stay bounded.
    assert source.read_bytes <= 600_000 + CHUNK_BYTES
    assert await pool.fetchval("SELECT count(*) FROM file_chunks") == 0
    if isinstance(store, LocalStore):
        assert list(store.directory.iterdir()) == []


async def test_6_2_a_write_that_fails_part_way_leaves_nothing(store: FileStore) -> None:
    """Past S3's first part too (a multipart upload, then aborted)."""
    name = "f" * 32

    async def failing() -> AsyncIterator[bytes]:
        for _ in range(40):  # 10 MiB
            yield b"y" * CHUNK_BYTES
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        await store.write(name, failing())

    assert not await store.has(name)
    with pytest.raises(MissingBytes):
        await store.open(name)


async def test_6_2_missing_bytes_are_reported_and_removing_them_again_is_fine(
    store: FileStore,
) -> None:
    stored = await storage.store_upload(store, Source(10), max_bytes=1024)

    await store.remove([stored.stored_name])
    await store.remove([stored.stored_name, "e" * 32])

    assert not await store.has(stored.stored_name)
    with pytest.raises(MissingBytes):
        await store.open(stored.stored_name)


async def test_6_2_the_local_store_removes_only_generated_names(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("keep")
    inside = tmp_path / "attachments"
    inside.mkdir()
    (inside / ("a" * 32)).write_text("bytes")

    await LocalStore(inside).remove(["a" * 32, "b" * 32, "../outside"])

    assert list(inside.iterdir()) == [] and outside.read_text() == "keep"


async def _client_file(conn: asyncpg.Connection, client_id: int, stored_name: str) -> None:
    await conn.execute(
        """INSERT INTO client_files (client_id, title, filename, stored_name, content_type, size)
           VALUES ($1, 'Contract', 'c.pdf', $2, 'application/pdf', 0)""",
        client_id,
        stored_name,
    )


@pytest.mark.parametrize(
    ("source_kind", "target_kind"), [("local", "postgres"), ("postgres", "s3")]
)
async def test_files_move_between_stores_and_moving_again_copies_nothing_twice(
    source_kind: str,
    target_kind: str,
    settings: Settings,
    pool: asyncpg.Pool,
    conn: asyncpg.Connection,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    client = await conftest.add_client(conn)
    async with (
        _open(source_kind, settings, pool, tmp_path, request) as source,
        _open(target_kind, settings, pool, tmp_path, request) as target,
    ):
        contents = {}
        for size in (0, 10, 2 * CHUNK_BYTES + 5):
            stored = await storage.store_upload(source, Source(size), max_bytes=10**7)
            await _client_file(conn, client.id, stored.stored_name)
            contents[stored.stored_name] = Source(size).content
        # As if a first run had stopped after copying one file.
        first = next(iter(contents))
        await target.write(first, await source.open(first))
        lost = "d" * 32  # a row whose bytes neither store has
        await _client_file(conn, client.id, lost)
        names = [*contents, lost]
        heard: list[Moved] = []

        result = await move_files(
            pool, names, source, target, remove_source=False, on_file=heard.append
        )
        again = await move_files(pool, names, source, target, remove_source=True)

        assert result.counts[Moved.COPIED] == 2 and result.counts[Moved.ALREADY_THERE] == 1
        assert result.missing == [lost] and len(heard) == 4
        assert again.counts[Moved.ALREADY_THERE] == 3 and again.counts[Moved.COPIED] == 0
        for name, content in contents.items():
            assert b"".join(await read_all(target, name)) == content
            assert not await source.has(name)  # --remove-source, once the target had it


async def test_a_file_deleted_while_it_was_moved_leaves_no_bytes_in_the_target(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with (
        _open("local", settings, pool, tmp_path, request) as source,
        _open("postgres", settings, pool, tmp_path, request) as target,
    ):
        stored = await storage.store_upload(source, Source(10), max_bytes=1024)

        result = await move_files(pool, [stored.stored_name], source, target, remove_source=False)

        assert result.counts[Moved.DELETED] == 1
        assert not await target.has(stored.stored_name)
