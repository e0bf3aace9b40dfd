"""Where client files' bytes live, through the API (issue 19: files every host serves): two
app instances on one database, a 20 MiB file stored and served a chunk at a time, the S3
store, bytes gone missing, and `clientdesk move-files`."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.settings import Settings
from app.web import create_app
from domain.files.storage import CHUNK_BYTES
from tests.api.test_files import CSRF, World, download, multipart, stored_files, upload, world
from tests.conftest import pk

__all__ = ["world"]  # the fixture, shared with test_files.py

MIB = 1024 * 1024


@contextlib.asynccontextmanager
async def api_host(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """One API host: its own app, pools and store, as a separate process would have."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.mark.parametrize("storage", ["postgres", "local"])
async def test_a_file_uploaded_through_one_api_host_downloads_through_another(
    settings: Settings, pool: asyncpg.Pool, world: World, tmp_path: Path, storage: str
) -> None:
    """Two hosts, each with a disk of its own (ATTACHMENTS_DIR). With the PostgreSQL store,
    the default, the second serves what the first stored; with the local one (the only
    store before), it cannot."""
    first, second = (
        settings.model_copy(update={"file_storage": storage, "attachments_dir": tmp_path / name})
        for name in ("host-1", "host-2")
    )
    async with api_host(first) as host_1, api_host(second) as host_2:
        file = await upload(host_1, world.staff_token, world.client_id, "c.pdf", b"%PDF-1 both")

        served = await download(host_2, file["id"], world.staff_token)

    if storage == "postgres":
        assert served.status_code == 200 and served.content == b"%PDF-1 both"
        assert Settings(_env_file=None).file_storage == "postgres"  # the default
    else:
        assert served.status_code == 404


async def _download_in_messages(
    app: Any, path: str, token: str
) -> tuple[int, list[int], int, dict[bytes, bytes]]:
    """Download through the ASGI interface itself (httpx's test transport would gather the
    body): the status, the size of each body message, the peak of memory allocated while
    the response was sent, and the headers. Each message is dropped once counted."""
    sizes: list[int] = []
    started: dict[str, Any] = {}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    requested = False
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # the client stays until the whole body has come
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.update(message)
            return
        if message.get("body"):
            sizes.append(len(message["body"]))
        if not message.get("more_body"):
            done.set()

    tracemalloc.start()
    try:
        await app(scope, receive, send)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return started["status"], sizes, peak, dict(started["headers"])


async def test_a_20_mib_file_is_stored_and_served_in_256_kib_chunks_never_whole_in_memory(
    settings: Settings, pool: asyncpg.Pool, conn: asyncpg.Connection, world: World
) -> None:
    # The request limit counts the multipart framing too: room for a 20 MiB file in it.
    roomy = settings.model_copy(update={"max_upload_bytes": 21 * MIB})
    content = bytes(range(256)) * (20 * MIB // 256)
    app = create_app(roomy)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            file = await upload(api, world.staff_token, world.client_id, "big.bin", content)
        status, sizes, peak, headers = await _download_in_messages(
            app, f"/files/{file['id']}", world.staff_token
        )

    chunks = await conn.fetch(
        """SELECT seq, length(data) AS size FROM file_chunks
            WHERE stored_name = (SELECT stored_name FROM client_files WHERE id = $1)
            ORDER BY seq""",
        pk(file["id"], "ClientFile"),
    )
    assert file["size"] == 20 * MIB
    assert [c["seq"] for c in chunks] == list(range(80))
    assert {c["size"] for c in chunks} == {CHUNK_BYTES}
    assert status == 200 and headers[b"content-length"] == str(20 * MIB).encode()
    assert sizes == [CHUNK_BYTES] * 80
    assert peak < 4 * MIB, f"{peak / MIB:.1f} MiB allocated at once while serving 20 MiB"
    assert list((await stored_files(conn)).values()) == [content]


@pytest.mark.parametrize("storage", ["postgres", "local"])
async def test_a_download_whose_bytes_are_missing_answers_a_clean_404(
    settings: Settings,
    pool: asyncpg.Pool,
    world: World,
    tmp_path: Path,
    storage: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    configured = settings.model_copy(update={"file_storage": storage, "attachments_dir": tmp_path})
    async with api_host(configured) as api:
        file = await upload(api, world.staff_token, world.client_id, "c.pdf", b"%PDF-1 lost")
        await pool.execute("DELETE FROM file_chunks")
        await asyncio.to_thread(shutil.rmtree, tmp_path)

        served = await download(api, file["id"], world.staff_token)

    assert served.status_code == 404
    assert served.json() == {
        "errors": [{"message": "File not found.", "extensions": {"code": "NOT_FOUND"}}]
    }
    assert "missing from the" in caplog.text  # said to the operator, not to the viewer


async def test_the_s3_store_serves_uploads_and_deleting_a_file_removes_its_object(
    s3_settings: Settings, pool: asyncpg.Pool, conn: asyncpg.Connection, world: World
) -> None:
    content = b"%PDF-1 " + b"s" * (3 * CHUNK_BYTES)
    app = create_app(s3_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            file = await upload(api, world.staff_token, world.client_id, "c.pdf", content)
            stored_name = await conn.fetchval("SELECT stored_name FROM client_files")
            store = app.state.services.files
            assert await store.has(stored_name)
            served = await download(api, file["id"], world.staff_token)
            delete = "mutation($id: ID!) { deleteClientFile(id: $id) { ok } }"
            await api.post(
                "/graphql",
                json={"query": delete, "variables": {"id": file["id"]}},
                headers={"Authorization": f"Bearer {world.staff_token}"},
            )
            assert not await store.has(stored_name)

    assert served.status_code == 200 and served.content == content
    assert await stored_files(conn) == {}  # nothing in PostgreSQL


async def test_6_2_an_upload_that_cannot_be_recorded_leaves_no_bytes(
    api: httpx.AsyncClient, conn: asyncpg.Connection, world: World
) -> None:
    await conn.execute("DELETE FROM clients WHERE id = $1", world.other_client_id)

    response = await api.post(
        "/graphql",
        **multipart(world.other_client_id, "c.pdf", b"%PDF-1 orphan"),
        headers={"Authorization": f"Bearer {world.staff_token}", **CSRF},
    )

    errors = response.json()["data"]["uploadClientFile"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("clientId", "NOT_FOUND")]
    assert await stored_files(conn) == {}
    assert await conn.fetchval("SELECT count(*) FROM client_files") == 0


async def test_move_files_moves_a_local_directory_into_postgresql_and_runs_again_safely(
    settings: Settings,
    pool: asyncpg.Pool,
    conn: asyncpg.Connection,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What an installation of before does once: its files from ATTACHMENTS_DIR into the
    database; then any host serves them."""
    directory = tmp_path / "attachments"
    local = settings.model_copy(update={"file_storage": "local", "attachments_dir": directory})
    async with api_host(local) as old_host:
        files = [
            await upload(old_host, world.staff_token, world.client_id, f"{n}.pdf", b"%PDF" * n)
            for n in range(1, 4)
        ]
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ATTACHMENTS_DIR", str(directory))

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, ["move-files", *args])

    copied = await asyncio.to_thread(run, "local", "postgres")
    again = await asyncio.to_thread(run, "local", "postgres", "--remove-source")
    same = await asyncio.to_thread(run, "postgres", "postgres")

    assert copied.exit_code == 0, copied.output
    assert "3 copied; 0 already there" in copied.output
    assert again.exit_code == 0 and "0 copied; 3 already there" in again.output
    assert same.exit_code == 2
    assert list(directory.iterdir()) == []  # --remove-source
    async with api_host(settings) as new_host:
        for n, file in enumerate(files, start=1):
            served = await download(new_host, file["id"], world.staff_token)
            assert served.content == b"%PDF" * n
