"""`clientdesk import clients`: a WHMCS export (or our own columns) checked whole, imported
set-wise, and imported again without adding anything."""

from __future__ import annotations

import asyncio
import io
from decimal import Decimal
from pathlib import Path

import asyncpg

from domain.clients.imports import import_clients

WHMCS = (
    "id,firstname,lastname,companyname,email,address1,city,postcode,country,phonenumber,"
    "currency,language,status,credit,taxexempt,datecreated\n"
    "7,Ann,Archer,Archer Ltd,ann@archer.example,1 High St,Leeds,LS1 1AA,GB,+44.1132345678,"
    "EUR,english,Active,12.50,1,2019-04-01\n"
    "8,Bob,Baker,,BOB@baker.example,,,,,,,,Inactive,0,0,2020-01-02\n"
    "9,Cy,Cole,,cy@cole.example,,,,DE,,,german,Closed,,,2021-03-04\n"
)


async def _import(conn: asyncpg.Connection, text: str, **options):
    return await import_clients(conn, io.StringIO(text), source_name="whmcs.csv", **options)


async def test_a_whmcs_export_becomes_clients_with_their_status_credit_and_flags(
    conn: asyncpg.Connection,
) -> None:
    result = await _import(conn, WHMCS)
    assert (result.imported, result.already_present, result.errors) == (3, 0, [])
    assert result.ignored_columns == ["id", "datecreated"]
    ann = await conn.fetchrow("SELECT * FROM clients WHERE email = 'ann@archer.example'")
    assert ann["company_name"] == "Archer Ltd" and ann["country"] == "GB"
    assert (ann["currency"], ann["language"], ann["tax_exempt"]) == ("EUR", "en", True)
    assert ann["credit_balance"] == Decimal("12.50")
    statuses = await conn.fetch("SELECT email, status FROM clients ORDER BY id")
    assert [(r["email"], r["status"]) for r in statuses] == [
        ("ann@archer.example", "ACTIVE"),
        ("BOB@baker.example", "INACTIVE"),  # as given: addresses compare without case
        ("cy@cole.example", "CLOSED"),
    ]
    credit = await conn.fetch("SELECT amount, description FROM credit_log")
    assert [(r["amount"], r["description"]) for r in credit] == [
        (Decimal("12.50"), "Balance imported")
    ]
    assert (
        await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'client.imported'") == 3
    )
    assert await conn.fetchval("SELECT count(*) FROM emails") == 0  # no welcome emails
    owners = await conn.fetchval(
        "SELECT count(*) FROM clients c JOIN logins l ON l.id = c.owner_login_id "
        "WHERE l.email = c.email AND l.password_hash IS NULL"
    )
    assert owners == 3


async def test_importing_the_same_file_again_adds_nothing(conn: asyncpg.Connection) -> None:
    await _import(conn, WHMCS)
    again = await _import(conn, WHMCS)
    assert (again.imported, again.already_present) == (0, 3)
    assert await conn.fetchval("SELECT count(*) FROM clients") == 3
    assert await conn.fetchval("SELECT count(*) FROM credit_log") == 1


async def test_one_bad_row_imports_nothing_and_each_error_names_its_line_and_column(
    conn: asyncpg.Connection,
) -> None:
    text = (
        "first_name,last_name,email,currency,credit,status\n"
        "Ann,Archer,ann@archer.example,EUR,1.00,ACTIVE\n"
        "Bob,Baker,not-an-email,EUR,,\n"
        ",Cole,cy@cole.example,XXX,-5,GONE\n"
        "Ann,Again,ANN@archer.example,EUR,,\n"
    )
    result = await _import(conn, text)
    found = {(e.line, e.column) for e in result.errors}
    assert found == {
        (3, "email"),
        (4, "first_name"),
        (4, "currency"),
        (4, "credit"),
        (4, "status"),
        (5, "email"),
    }
    assert "line 2" in next(e.message for e in result.errors if e.line == 5)
    assert result.imported == 0
    assert await conn.fetchval("SELECT count(*) FROM clients") == 0


async def test_a_file_without_the_required_columns_is_refused_at_its_header(
    conn: asyncpg.Connection,
) -> None:
    result = await _import(conn, "firstname,email\nAnn,ann@archer.example\n")
    assert [(e.line, e.column) for e in result.errors] == [(1, None)]
    assert "last_name" in result.errors[0].message


async def test_a_dry_run_counts_what_it_would_import_and_changes_nothing(
    conn: asyncpg.Connection,
) -> None:
    await _import(conn, WHMCS.split("8,Bob")[0])  # Ann only
    result = await _import(conn, WHMCS, dry_run=True)
    assert (result.imported, result.already_present) == (2, 1)
    assert await conn.fetchval("SELECT count(*) FROM clients") == 1


async def test_the_import_is_set_wise_its_statements_do_not_grow_with_its_rows(
    conn: asyncpg.Connection,
) -> None:
    def rows(count: int) -> str:
        lines = (f"Pat,Jones{n},pat{n}@many{count}.example" for n in range(count))
        return "firstname,lastname,email\n" + "\n".join(lines) + "\n"

    await _import(conn, rows(5))  # the first use of a statement also reads its types
    statements: list[str] = []
    conn.add_query_logger(lambda record: statements.append(record.query))
    await _import(conn, rows(10))
    await asyncio.sleep(0)  # loggers run soon after their statement: let the last land
    few = len(statements)
    statements.clear()
    result = await _import(conn, rows(4000))
    await asyncio.sleep(0)
    assert result.imported == 4000
    assert len(statements) == few


def test_the_import_command_reports_what_it_did_and_fails_on_bad_rows(
    run_cli, tmp_path: Path
) -> None:
    good = tmp_path / "clients.csv"
    good.write_text(WHMCS, encoding="utf-8")
    dry = run_cli("import", "clients", str(good), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would import 3 client(s); 0 already present" in dry.output
    done = run_cli("import", "clients", str(good))
    assert "imported 3 client(s)" in done.output
    assert "ignored columns: id, datecreated" in done.output

    bad = tmp_path / "bad.csv"
    bad.write_text("firstname,lastname,email\nAnn,,ann@x.example\n", encoding="utf-8")
    failed = run_cli("import", "clients", str(bad))
    assert failed.exit_code == 1
    assert "line 2, lastname:" in failed.output
    assert "nothing was imported" in failed.output
