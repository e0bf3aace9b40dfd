"""`clientdesk import contacts`: a WHMCS contacts export (or our own columns), each row naming
its client by address, checked whole and imported again without adding anything."""

from __future__ import annotations

import io
from pathlib import Path

import asyncpg

from domain.clients.imports import import_clients
from domain.contacts.imports import import_contacts
from tests.app.test_import import WHMCS

CONTACTS = (
    "id,userid,clientemail,firstname,lastname,companyname,email,phonenumber,country,"
    "subaccount,permissions,invoiceemails,supportemails,generalemails\n"
    "1,7,ann@archer.example,Bea,Billing,Archer Ltd,bea@archer.example,+44.1132345679,GB,"
    '1,"invoices,manageproducts,tickets",1,0,\n'
    "2,8,BOB@BAKER.example,Carl,Crew,,carl@baker.example,,,0,,,1,1\n"
)


async def _import(conn: asyncpg.Connection, text: str, **options):
    return await import_contacts(conn, io.StringIO(text), source_name="contacts.csv", **options)


async def _clients(conn: asyncpg.Connection) -> None:
    await import_clients(conn, io.StringIO(WHMCS), source_name="whmcs.csv")


async def test_a_whmcs_contacts_export_becomes_contacts_of_the_clients_it_names(
    conn: asyncpg.Connection,
) -> None:
    await _clients(conn)
    result = await _import(conn, CONTACTS)
    assert (result.imported, result.already_present, result.errors) == (2, 0, [])
    assert result.ignored_columns == ["id", "userid", "subaccount"]
    rows = await conn.fetch(
        """SELECT cl.email AS client, c.email, c.company_name, c.country, c.permissions,
                  c.email_preferences, c.login_id, c.invited_at
             FROM contacts c JOIN clients cl ON cl.id = c.client_id ORDER BY c.id"""
    )
    bea, carl = (dict(row) for row in rows)
    assert (bea["client"], bea["email"], bea["company_name"], bea["country"]) == (
        "ann@archer.example",
        "bea@archer.example",
        "Archer Ltd",
        "GB",
    )
    assert bea["permissions"] == ["INVOICES", "MANAGE_PRODUCTS", "TICKETS"]
    assert bea["email_preferences"] == ["INVOICE"]
    assert carl["client"] == "BOB@baker.example"  # found without regard to case
    assert sorted(carl["email_preferences"]) == ["GENERAL", "SUPPORT"]
    # No login, no invitation, no email: staff give access when they choose to.
    assert (bea["login_id"], bea["invited_at"]) == (None, None)
    assert await conn.fetchval("SELECT count(*) FROM emails") == 0
    audited = await conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'contact.imported'"
    )
    assert audited == 2


async def test_importing_the_same_contacts_again_adds_nothing_and_a_dry_run_changes_nothing(
    conn: asyncpg.Connection,
) -> None:
    await _clients(conn)
    dry = await _import(conn, CONTACTS, dry_run=True)
    assert (dry.imported, await conn.fetchval("SELECT count(*) FROM contacts")) == (2, 0)
    await _import(conn, CONTACTS)
    again = await _import(conn, CONTACTS)
    assert (again.imported, again.already_present) == (0, 2)
    assert await conn.fetchval("SELECT count(*) FROM contacts") == 2


async def test_a_contact_of_no_client_or_with_bad_cells_imports_nothing_naming_line_and_column(
    conn: asyncpg.Connection,
) -> None:
    await _clients(conn)
    text = (
        "client_email,first_name,last_name,email,permissions,invoice_emails\n"
        "ann@archer.example,Bea,Billing,bea@archer.example,INVOICES,1\n"
        "nobody@nowhere.example,Dan,Doe,dan@doe.example,,\n"
        "ann@archer.example,,Empty,not-an-email,FLY,maybe\n"
        "ann@archer.example,Bea,Twice,BEA@archer.example,,\n"
    )
    result = await _import(conn, text)
    assert {(e.line, e.column) for e in result.errors} == {
        (3, "client_email"),
        (4, "first_name"),
        (4, "email"),
        (4, "permissions"),
        (4, "invoice_emails"),
        (5, "email"),
    }
    assert [e.line for e in result.errors] == sorted(e.line for e in result.errors)
    assert "nobody@nowhere.example" in next(e.message for e in result.errors if e.line == 3)
    assert "line 2" in next(e.message for e in result.errors if e.line == 5)
    assert await conn.fetchval("SELECT count(*) FROM contacts") == 0


def test_the_contacts_command_reports_what_it_did(run_cli, tmp_path: Path) -> None:
    clients = tmp_path / "clients.csv"
    clients.write_text(WHMCS, encoding="utf-8")
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(CONTACTS, encoding="utf-8")
    assert run_cli("import", "clients", str(clients)).exit_code == 0
    done = run_cli("import", "contacts", str(contacts))
    assert done.exit_code == 0, done.output
    assert "imported 2 contact(s); 0 already present" in done.output
    contacts.write_text("clientemail,firstname,lastname,email\nx@y.example,A,B,a@b.example\n")
    failed = run_cli("import", "contacts", str(contacts))
    assert failed.exit_code == 1
    assert "line 2, clientemail: No client has the address x@y.example." in failed.output
