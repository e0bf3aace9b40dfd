"""The `clientdesk` command against the real test database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.migrate import MigrationError, load_migrations
from app.seed import DEMO_PASSWORD, seed_clients
from app.settings import Settings
from domain.auth.passwords import verify_password
from domain.totals import estimate_rows


@pytest.fixture(autouse=True)
def no_dev_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A var/ of its own: a `make dev` running in the checkout must not answer for the tests."""
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))


def test_migrate_reports_an_up_to_date_database(run_cli) -> None:
    result = run_cli("migrate")
    assert result.exit_code == 0, result.output
    assert "0 migration(s) applied" in result.output


def test_commands_refuse_to_run_without_a_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("REDIS_URL", "")
    for command in (["migrate"], ["seed"], ["create-staff", "--email", "a@example.com"]):
        result = CliRunner().invoke(cli, command, input="a-good-password\na-good-password\n")
        assert result.exit_code == 2, result.output
        assert "DATABASE_URL not set" in result.output
        assert "REDIS_URL" not in result.output


def test_serve_needs_both_database_and_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("REDIS_URL", "")
    result = CliRunner().invoke(cli, ["serve", "--port", "1"])
    assert result.exit_code == 2
    assert "DATABASE_URL, REDIS_URL not set" in result.output


def test_migrate_fails_loudly_without_migration_files(tmp_path: Path) -> None:
    # An installation without its migration files must not report "up to date".
    with pytest.raises(MigrationError, match="no migration files"):
        load_migrations(tmp_path)


def test_create_staff_makes_a_login_that_verifies(run_cli, settings: Settings) -> None:
    # A plain (not async) test: the command runs its own event loop, as from a shell.
    result = run_cli(
        "create-staff",
        "--email",
        "ops@example.com",
        "--role",
        "SUPPORT",
        input="a-good-password\na-good-password\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created SUPPORT staff member ops@example.com" in result.output

    async def stored() -> asyncpg.Record:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await conn.fetchrow(
                "SELECT s.role, l.password_hash FROM staff s JOIN logins l ON l.id = s.login_id"
            )
        finally:
            await conn.close()

    row = asyncio.run(stored())
    assert row["role"] == "SUPPORT"
    assert asyncio.run(verify_password(row["password_hash"], "a-good-password"))


def test_create_staff_with_reset_sets_an_existing_members_password(
    run_cli, settings: Settings
) -> None:
    made = run_cli("create-staff", "--email", "ops@example.com", input="first-password\n" * 2)
    assert made.exit_code == 0, made.output

    taken = run_cli("create-staff", "--email", "ops@example.com", input="second-password\n" * 2)
    reset = run_cli(
        "create-staff", "--email", "OPS@example.com", "--reset", input="third-password\n" * 2
    )

    assert taken.exit_code == 1 and "already has a login" in taken.output
    assert reset.exit_code == 0, reset.output
    assert "Set a new password for staff member ops@example.com" in reset.output

    async def stored() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await conn.fetch(
                "SELECT l.password_hash, s.role FROM staff s JOIN logins l ON l.id = s.login_id"
            )
        finally:
            await conn.close()

    [row] = asyncio.run(stored())
    assert row["role"] == "ADMIN"
    assert asyncio.run(verify_password(row["password_hash"], "third-password"))


def test_create_staff_shows_field_errors(run_cli) -> None:
    result = run_cli("create-staff", "--email", "not-an-email", input="short\nshort\n")
    assert result.exit_code == 1
    assert "email:" in result.output and "password:" in result.output


async def test_seed_adds_demo_clients_across_batches(conn: asyncpg.Connection) -> None:
    added = await seed_clients(conn, 1_234, seed=7)  # more than one batch of 1,000
    assert added == 1_234
    counts = await conn.fetchrow(
        """SELECT count(*) AS clients, count(DISTINCT c.email) AS emails,
                  count(*) FILTER (WHERE c.status NOT IN ('ACTIVE', 'INACTIVE', 'CLOSED')) AS bad,
                  count(DISTINCT l.password_hash) AS hashes
             FROM clients c JOIN logins l ON l.id = c.owner_login_id"""
    )
    assert dict(counts) == {"clients": 1_234, "emails": 1_234, "bad": 0, "hashes": 1}
    password_hash = await conn.fetchval("SELECT password_hash FROM logins LIMIT 1")
    assert await verify_password(password_hash, DEMO_PASSWORD)


def test_seed_command_reports_what_it_added(run_cli) -> None:
    result = run_cli("seed", "--clients", "25", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "Added 25 clients" in result.output


def test_1_8_totals_beyond_the_cap_fit_the_seeded_clients_as_soon_as_the_seed_is_done(
    run_cli, settings: Settings
) -> None:
    result = run_cli("seed", "--clients", "2345", "--seed", "3")
    assert result.exit_code == 0, result.output

    async def planned() -> int:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await estimate_rows(conn, "FROM clients")
        finally:
            await conn.close()

    # Beyond 1,000 a total is the planner's estimate (SPEC 1.8): without statistics of the
    # new rows it guessed from the table's size alone (4,275 for 10,000 seeded clients).
    assert abs(asyncio.run(planned()) - 2345) <= 0.1 * 2345


def test_seed_command_adds_services_and_invoices_to_the_new_clients_only(run_cli) -> None:
    run_cli("seed", "--clients", "10", "--seed", "1")
    result = run_cli("seed", "--clients", "20", "--seed", "2", "--billing")
    assert result.exit_code == 0, result.output
    # Nine clients in ten of the 20 new ones (ids 11–30: all but 20 and 30), one invoice each.
    assert "Added 18 services and 20 invoices" in result.output
