"""Client files in the domain (SPEC 6.2, 10.3): storage under generated names, the size limit
while copying, cleaned display names, and the audited use cases."""

from __future__ import annotations

import io
from pathlib import Path

import asyncpg
import pytest

from domain.errors import DomainError
from domain.files import services, storage
from tests import conftest
from tests.api.test_files import CLIMBING_NAME


class Source:
    """An upload being read: `total` bytes, counting how many were asked for."""

    def __init__(self, total: int) -> None:
        self._data = io.BytesIO(b"x" * total)
        self.read_bytes = 0

    async def read(self, size: int = -1) -> bytes:
        chunk = self._data.read(size)
        self.read_bytes += len(chunk)
        return chunk


def files_in(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in directory.iterdir()}


async def add_client(conn: asyncpg.Connection) -> int:
    client = await conftest.add_client(conn)
    return client.id


async def test_6_2_bytes_are_stored_under_a_generated_name(tmp_path: Path) -> None:
    stored = await storage.store_upload(tmp_path, Source(1000), max_bytes=4096)

    assert storage.STORED_NAME.fullmatch(stored.stored_name) and stored.size == 1000
    assert files_in(tmp_path) == {stored.stored_name: b"x" * 1000}


async def test_6_2_an_oversized_upload_stops_at_the_limit_and_leaves_no_partial_file(
    tmp_path: Path,
) -> None:
    source = Source(10 * 1024 * 1024)

    with pytest.raises(DomainError) as refused:
        await storage.store_upload(tmp_path, source, max_bytes=100_000)

    assert refused.value.errors[0].field == "file"
    assert files_in(tmp_path) == {}
    # Read a chunk past the limit, not the 10 MiB: memory and disk stay bounded.
    assert source.read_bytes <= 100_000 + storage.CHUNK_BYTES


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (CLIMBING_NAME, "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("report\r\nSet-Cookie: x.pdf", "report Set-Cookie: x.pdf"),
        ("invoice\u202efdp.exe", "invoice fdp.exe"),
        ("Ångström résumé.pdf", "Ångström résumé.pdf"),
        ("..", "file"),
        ("", "file"),
        (None, "file"),
        ("a" * 300, "a" * 255),
    ],
)
def test_6_2_the_original_name_is_cleaned_for_display(given: str | None, shown: str) -> None:
    assert storage.display_filename(given) == shown


@pytest.mark.parametrize(
    ("given", "served"),
    [
        ("application/pdf", "application/pdf"),
        ("Text/Plain; charset=utf-8", "text/plain"),
        ("text/html\r\nX-Evil: 1", "application/octet-stream"),
        ("nonsense", "application/octet-stream"),
        (None, "application/octet-stream"),
    ],
)
def test_6_2_the_content_type_is_a_plain_media_type(given: str | None, served: str) -> None:
    assert storage.clean_content_type(given) == served


def test_6_2_removing_stored_files_touches_only_generated_names(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("keep")
    inside = tmp_path / "attachments"
    inside.mkdir()
    (inside / ("a" * 32)).write_text("bytes")

    storage.remove_stored_files(inside, ["a" * 32, "b" * 32, "../outside"])

    assert list(inside.iterdir()) == [] and outside.read_text() == "keep"


async def test_6_2_a_file_that_cannot_be_recorded_leaves_no_bytes(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    stored = await storage.store_upload(tmp_path, Source(10), max_bytes=4096)

    with pytest.raises(DomainError) as refused:
        await services.add_file(
            conn,
            tmp_path,
            999,
            stored,
            title="Contract",
            filename="c.pdf",
            content_type="application/pdf",
            admin_only=False,
            staff_id=None,
        )

    assert refused.value.errors[0].field == "client_id"
    assert files_in(tmp_path) == {}
    assert await conn.fetchval("SELECT count(*) FROM client_files") == 0


async def test_10_3_file_changes_are_audited_without_the_bytes(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    client_id = await add_client(conn)
    stored = await storage.store_upload(tmp_path, Source(10), max_bytes=4096)
    added = await services.add_file(
        conn,
        tmp_path,
        client_id,
        stored,
        title=" Contract ",
        filename="c.pdf",
        content_type="application/pdf",
        admin_only=True,
        staff_id=None,
    )
    await services.update_file(
        conn, added.id, title="Signed contract", admin_only=None, staff_id=None
    )
    await services.update_file(conn, added.id, title=None, admin_only=True, staff_id=None)  # no-op
    removed = await services.delete_file(conn, added.id, staff_id=None)

    entries = await conn.fetch(
        "SELECT action, changes FROM audit_log WHERE action LIKE 'file.%' ORDER BY id"
    )
    assert [(e["action"], e["changes"]) for e in entries] == [
        (
            "file.uploaded",
            {
                "file_id": added.id,
                "title": "Contract",
                "filename": "c.pdf",
                "size": 10,
                "content_type": "application/pdf",
                "admin_only": True,
            },
        ),
        (
            "file.updated",
            {"file_id": added.id, "title": {"from": "Contract", "to": "Signed contract"}},
        ),
        ("file.deleted", {"file_id": added.id, "title": "Signed contract", "filename": "c.pdf"}),
    ]
    assert removed == stored.stored_name


def test_6_2_an_empty_title_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        services.clean_title("  ")

    assert refused.value.errors[0].field == "title"
