"""`clientdesk backup` / `restore` and `migrate --status` / `--check`, on a database of their
own in the suite's PostgreSQL: dropped and restored, it must serve logins and cards again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from app import db
from app.cli import cli
from app.migrate import load_migrations, migrate
from app.settings import Settings
from app.web import create_app
from domain.auth.permissions import StaffRole
from domain.auth.staff import create_staff
from domain.cards import services as cards
from tests.conftest import STAFF_PASSWORD, TEST_KEYRING, add_client, gid, gql, login

PROBE = "backup_probe"
REVEAL = """mutation($id: ID!) {
  revealCardNumber(clientId: $id, encryptionSecret: "test-card-secret") { number errors { code } }
}"""


def _url_of(database_url: str, name: str) -> str:
    return urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))


async def _recreate(admin_url: str) -> None:
    """The probe database, empty (its connections ended first, as a real drop needs)."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {PROBE} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {PROBE}")
    finally:
        await conn.close()


@pytest.fixture
async def probe_url(settings: Settings) -> AsyncIterator[str]:
    await _recreate(settings.database_url)
    yield _url_of(settings.database_url, PROBE)
    conn = await asyncpg.connect(settings.database_url)
    await conn.execute(f"DROP DATABASE IF EXISTS {PROBE} WITH (FORCE)")
    await conn.close()


@pytest.fixture
def run_cli(probe_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))  # no `make dev` answers for the test
    monkeypatch.setenv("DATABASE_URL", probe_url)
    monkeypatch.setenv("REDIS_URL", "")

    def run(*args: str):
        return CliRunner().invoke(cli, list(args))

    yield run


async def _fill(url: str) -> int:
    """A staff member and a client with a stored card; return the client's id."""
    conn = await db.connect(url)
    try:
        await migrate(conn)
        await create_staff(
            conn,
            email="admin@staff.example.com",
            password=STAFF_PASSWORD,
            first_name="Sam",
            last_name="Staff",
            role=StaffRole.ADMIN,
        )
        client = await add_client(conn)
        await cards.save_card(
            conn, TEST_KEYRING, client.id, number="4111111111111111", expiry="12/30", staff_id=None
        )
        return client.id
    finally:
        await conn.close()


async def test_a_backup_restored_into_a_dropped_database_logs_in_and_reveals_the_card(
    settings: Settings, probe_url: str, run_cli, tmp_path: Path
) -> None:
    client_id = await _fill(probe_url)
    backup_file = tmp_path / "clientdesk.dump"
    made = run_cli("backup", str(backup_file))
    assert made.exit_code == 0, made.output
    assert backup_file.stat().st_size > 0
    assert not backup_file.with_name("clientdesk.dump.partial").exists()

    await _recreate(settings.database_url)
    refused = run_cli("restore", str(backup_file))
    assert refused.exit_code == 2 and "--yes" in refused.output
    restored = run_cli("restore", str(backup_file), "--yes")
    assert restored.exit_code == 0, restored.output

    app = create_app(settings.model_copy(update={"database_url": probe_url}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            token = await login(api, "admin@staff.example.com", STAFF_PASSWORD)
            body = await gql(api, REVEAL, {"id": gid("Client", client_id)}, token=token)
    assert body["data"]["revealCardNumber"] == {"number": "4111111111111111", "errors": []}


async def test_a_failed_restore_changes_nothing(probe_url: str, run_cli, tmp_path: Path) -> None:
    await _fill(probe_url)
    garbage = tmp_path / "not-a-backup.dump"
    garbage.write_bytes(b"PGDMP but not really")
    failed = run_cli("restore", str(garbage), "--yes")
    assert failed.exit_code == 1
    assert "nothing changed" in failed.output
    conn = await asyncpg.connect(probe_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM clients") == 1
    finally:
        await conn.close()


def test_migrate_check_fails_while_migrations_are_pending_and_status_lists_them(
    probe_url: str, run_cli
) -> None:
    names = [m.name for m in load_migrations()]
    pending = run_cli("migrate", "--check")
    assert pending.exit_code == 1
    assert f"0 applied, {len(names)} pending" in pending.output
    assert all(name in pending.output for name in names)

    assert run_cli("migrate").exit_code == 0
    status = run_cli("migrate", "--status")
    assert status.exit_code == 0
    assert f"{len(names)} applied, 0 pending" in status.output
    assert run_cli("migrate", "--check").exit_code == 0
