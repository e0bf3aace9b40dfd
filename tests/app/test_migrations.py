"""The migration runner and the committed schema dump (DESIGN "Data": migrations)."""

from __future__ import annotations

import asyncio
import difflib
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from app.migrate import MigrationError, load_migrations, migrate
from app.schema_dump import REGENERATE_HINT, SCHEMA_FILE, dump_schema, normalise_dump
from tests.app.conftest import with_database
from tests.conftest import Services

Connect = Callable[[], Awaitable[asyncpg.Connection]]


@pytest.fixture
async def scratch_url(services: Services) -> AsyncIterator[str]:
    """An empty database of its own on the test server, dropped afterwards."""
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(services.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(services.database_url, name)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def connect(scratch_url: str) -> AsyncIterator[Connect]:
    """Open connections to the scratch database; all are closed at the end of the test."""
    opened: list[asyncpg.Connection] = []

    async def open_connection() -> asyncpg.Connection:
        conn = await asyncpg.connect(scratch_url)
        opened.append(conn)
        return conn

    yield open_connection
    for conn in opened:
        await conn.close()


def write_migrations(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def schema_mismatch(actual: str, expected: str) -> str:
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            "migrations/schema.sql (committed)",
            "migrated database",
        )
    )
    return f"migrations/schema.sql is out of date; regenerate it with `{REGENERATE_HINT}`.\n{diff}"


async def test_migrated_database_matches_committed_schema_sql(services: Services, pool) -> None:
    actual = await dump_schema(services.database_url)
    expected = SCHEMA_FILE.read_text(encoding="utf-8")
    assert actual == expected, schema_mismatch(actual, expected)


def test_schema_dump_normalisation_drops_what_changes_between_runs() -> None:
    raw = (
        "--\n-- PostgreSQL database dump\n--\n\n\\restrict AbC123\n\n"
        "-- Dumped from database version 18.6\nSET statement_timeout = 0;\n"
        "SELECT pg_catalog.set_config('search_path', '', false);\n\n\n\n"
        "CREATE TABLE public.t (\n    id bigint NOT NULL\n);   \n\n\n"
        "CREATE INDEX t_id ON public.t USING btree (id);\n\n\\unrestrict AbC123\n\n"
    )
    assert normalise_dump(raw) == (
        "CREATE TABLE public.t (\n    id bigint NOT NULL\n);\n\n"
        "CREATE INDEX t_id ON public.t USING btree (id);\n"
    )


async def test_migrate_on_an_up_to_date_database_applies_nothing(conn) -> None:
    before = await conn.fetch("SELECT version, checksum, applied_at FROM schema_migrations")
    assert await migrate(conn) == []
    after = await conn.fetch("SELECT version, checksum, applied_at FROM schema_migrations")
    assert after == before


async def test_migrate_on_a_fresh_database_applies_every_file_in_order(
    connect: Connect, scratch_url: str
) -> None:
    files = load_migrations()
    assert files, "no migration files found"
    conn = await connect()
    applied_in_order: list[str] = []

    applied = await migrate(conn, on_apply=lambda m: applied_in_order.append(m.version))

    assert [m.version for m in applied] == sorted(m.version for m in files)
    assert applied_in_order == [m.version for m in applied]
    recorded = await conn.fetch(
        "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
    )
    assert [tuple(r) for r in recorded] == [(m.version, m.name, m.checksum) for m in files]
    # What a fresh clone gets is what migrations/schema.sql says.
    actual = await dump_schema(scratch_url)
    expected = SCHEMA_FILE.read_text(encoding="utf-8")
    assert actual == expected, schema_mismatch(actual, expected)
    assert await migrate(conn) == []


async def test_migrate_refuses_an_applied_file_that_was_changed(
    connect: Connect, tmp_path: Path
) -> None:
    directory = write_migrations(
        tmp_path / "migrations",
        {"0001_things.sql": "-- migrate:up\nCREATE TABLE things (id int);\n"},
    )
    conn = await connect()
    assert [m.name for m in await migrate(conn, load_migrations(directory))] == ["0001_things"]

    write_migrations(
        directory,
        {
            "0001_things.sql": "-- migrate:up\nCREATE TABLE things (id int, name text);\n",
            "0002_more.sql": "-- migrate:up\nCREATE TABLE more (id int);\n",
        },
    )
    with pytest.raises(
        MigrationError, match=re.escape("0001_things.sql was changed after it was applied")
    ):
        await migrate(conn, load_migrations(directory))

    # Nothing after the changed file ran either.
    assert await conn.fetchval("SELECT to_regclass('more')") is None
    assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 1
    columns = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'things'"
    )
    assert [c["column_name"] for c in columns] == ["id"]


def test_migrate_refuses_a_file_without_migrate_up(tmp_path: Path) -> None:
    directory = write_migrations(
        tmp_path / "migrations",
        {
            "0001_ok.sql": "-- migrate:up\nCREATE TABLE ok (id int);\n",
            "0002_no_marker.sql": (
                "CREATE TABLE oops (id int);\n-- migrate:down\nDROP TABLE oops;\n"
            ),
        },
    )
    with pytest.raises(
        MigrationError, match=re.escape("0002_no_marker.sql has no '-- migrate:up' section")
    ):
        load_migrations(directory)


async def test_migrate_applies_only_the_up_section_and_skips_non_migration_files(
    connect: Connect, tmp_path: Path
) -> None:
    directory = write_migrations(
        tmp_path / "migrations",
        {
            "0001_up_down.sql": (
                "-- migrate:up\nCREATE TABLE kept (id int);\n-- migrate:down\nDROP TABLE kept;\n"
            ),
            "schema.sql": "this is not SQL and must not run",
        },
    )
    conn = await connect()
    assert [m.name for m in await migrate(conn, load_migrations(directory))] == ["0001_up_down"]
    assert await conn.fetchval("SELECT to_regclass('kept')::text") == "kept"


async def test_concurrent_migrate_calls_apply_each_file_exactly_once(
    connect: Connect, tmp_path: Path
) -> None:
    # Neither file can run twice: a second CREATE TABLE fails, and the slow first file keeps
    # both runners inside the critical section at the same time without the lock.
    directory = write_migrations(
        tmp_path / "migrations",
        {
            "0001_slow.sql": (
                "-- migrate:up\nCREATE TABLE runs (file text);\nSELECT pg_sleep(0.3);\n"
                "INSERT INTO runs VALUES ('0001');\n"
            ),
            "0002_after.sql": "-- migrate:up\nCREATE TABLE after (id int);\n"
            "INSERT INTO runs VALUES ('0002');\n",
        },
    )
    migrations = load_migrations(directory)
    first, second = await connect(), await connect()

    applied = await asyncio.gather(migrate(first, migrations), migrate(second, migrations))

    assert sorted(m.version for run in applied for m in run) == ["0001", "0002"]
    assert [r["file"] for r in await first.fetch("SELECT file FROM runs ORDER BY file")] == [
        "0001",
        "0002",
    ]
    assert await first.fetchval("SELECT count(*) FROM schema_migrations") == 2


async def test_0023_gives_each_existing_ticket_a_reply_token_of_its_own(connect: Connect) -> None:
    """Tickets opened before reply tokens get one each as the column is added (their emailed
    references were "[Ticket #N]", which now joins nothing)."""
    files = load_migrations()
    conn = await connect()
    await migrate(conn, [m for m in files if m.version < "0023"])
    await conn.execute(
        """WITH login AS (INSERT INTO logins (email) VALUES ('joe@example.com') RETURNING id),
                client AS (
                  INSERT INTO clients (owner_login_id, first_name, last_name, email, currency)
                  SELECT id, 'Joe', 'Bloggs', 'joe@example.com', 'USD' FROM login RETURNING id)
           INSERT INTO tickets (client_id, opened_by, opener, subject)
           SELECT client.id, 'CLIENT', 'Joe Bloggs <joe@example.com>', 'Help ' || n
             FROM client, generate_series(1, 50) n"""
    )

    await migrate(conn, files)

    tokens = [r["reply_token"] for r in await conn.fetch("SELECT reply_token FROM tickets")]
    assert len(set(tokens)) == 50
    assert all(re.fullmatch("[0-9a-f]{16}", token) for token in tokens)


async def test_0035_invoices_keep_their_orders_currency_and_the_test_gateway_starts_off(
    connect: Connect,
) -> None:
    """Invoices made before 0035 were shown in the client's current currency; they take their
    order's (else the client's), and the test gateway is off until dev or tests turn it on."""
    files = load_migrations()
    conn = await connect()
    await migrate(conn, [m for m in files if m.version < "0035"])
    client_id = await conn.fetchval(
        """WITH login AS (INSERT INTO logins (email) VALUES ('joe@example.com') RETURNING id)
           INSERT INTO clients (owner_login_id, first_name, last_name, email, currency)
           SELECT id, 'Joe', 'Bloggs', 'joe@example.com', 'GBP' FROM login RETURNING id"""
    )
    ordered, staff_made = [
        await conn.fetchval(
            """INSERT INTO invoices (client_id, due_date, billed_to, subtotal)
               VALUES ($1, current_date, '{}', 10) RETURNING id""",
            client_id,
        )
        for _ in range(2)
    ]
    # Ordered in EUR before the client was moved to GBP.
    await conn.execute(
        "INSERT INTO orders (client_id, currency, invoice_id) VALUES ($1, 'EUR', $2)",
        client_id,
        ordered,
    )

    await migrate(conn, files)

    currencies = dict(await conn.fetch("SELECT id, currency FROM invoices"))
    assert currencies == {ordered: "EUR", staff_made: "GBP"}
    enabled = dict(await conn.fetch("SELECT name, enabled FROM payment_gateways"))
    assert enabled["testcard"] is False and enabled["banktransfer"] is True


async def test_0039_past_overpayments_are_the_credited_part_of_the_latest_payments(
    connect: Connect,
) -> None:
    """Overpayment credit was logged on the invoice, not on the payment: 0039 gives it to the
    invoice's latest payments (those that overpaid), so that their refunds take it back."""
    files = load_migrations()
    conn = await connect()
    await migrate(conn, [m for m in files if m.version < "0039"])
    client_id = await conn.fetchval(
        """WITH login AS (INSERT INTO logins (email) VALUES ('joe@example.com') RETURNING id)
           INSERT INTO clients (owner_login_id, first_name, last_name, email, currency)
           SELECT id, 'Joe', 'Bloggs', 'joe@example.com', 'USD' FROM login RETURNING id"""
    )
    overpaid, exact = [
        await conn.fetchval(
            """INSERT INTO invoices (client_id, due_date, billed_to, subtotal, currency,
                                     amount_paid, status)
               VALUES ($1, current_date, '{}', 10, 'USD', 10, 'PAID') RETURNING id""",
            client_id,
        )
        for _ in range(2)
    ]
    # 6 + 8 + 5 paid a 10.00 invoice: 4.00 of the second and all of the third were credit.
    payments = [
        await conn.fetchval(
            """INSERT INTO transactions (client_id, invoice_id, gateway, amount, currency)
               VALUES ($1, $2, 'banktransfer', $3, 'USD') RETURNING id""",
            client_id,
            invoice,
            amount,
        )
        for invoice, amount in ((overpaid, 6), (overpaid, 8), (overpaid, 5), (exact, 10))
    ]
    await conn.execute(
        """INSERT INTO credit_log (client_id, description, amount, invoice_id)
           VALUES ($1, 'Credit for Overpayment of Invoice #1', 4, $2),
                  ($1, 'Credit for Overpayment of Invoice #1', 5, $2),
                  ($1, 'Credit Applied to Invoice #2', -1, $3)""",
        client_id,
        overpaid,
        exact,
    )

    await migrate(conn, files)

    credited = dict(await conn.fetch("SELECT id, credited FROM transactions"))
    assert [credited[p] for p in payments] == [0, 4, 5, 0]
