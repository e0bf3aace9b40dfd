"""Client files in the domain (SPEC 6.2, 10.3): cleaned display names and media types, and the
audited use cases. The stores of their bytes: tests/domain/test_file_stores.py."""

from __future__ import annotations

import asyncpg
import pytest

from domain.errors import DomainError
from domain.files import services, storage
from tests import conftest
from tests.api.test_files import CLIMBING_NAME


async def add_client(conn: asyncpg.Connection) -> int:
    client = await conftest.add_client(conn)
    return client.id


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


async def test_10_3_file_changes_are_audited_without_the_bytes(conn: asyncpg.Connection) -> None:
    client_id = await add_client(conn)
    stored = storage.StoredBytes("c" * 32, 10)
    added = await services.add_file(
        conn,
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
