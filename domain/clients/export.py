"""Everything the system holds about a client, as one JSON document: the data subject's access
and portability rights (GDPR articles 15 and 20).

Each section is one query that builds its JSON in PostgreSQL. Tables holding secrets list
their columns, so that password hashes, TOTP secrets, card numbers or ciphertexts, session
and reset tokens cannot appear: logins are only described (has a login, last login), cards
only as staff see them, and emails without their bodies and template context, which carry
reset links.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from domain import audit
from domain.errors import NotFound


def _rows(select: str, order: str = "id") -> str:
    return f"SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.{order}), '[]') FROM ({select}) x"


# (section, query of a JSON value for client $1). Sections of one object use `_one`.
_SECTIONS: tuple[tuple[str, str], ...] = (
    (
        "contacts",
        _rows(
            """SELECT ct.id, ct.first_name, ct.last_name, ct.company_name, ct.email::text,
                      ct.phone_number, ct.address1, ct.address2, ct.city, ct.state, ct.postcode,
                      ct.country, ct.email_preferences, ct.permissions,
                      ct.login_id IS NOT NULL AS has_login, ct.invited_at, l.last_login_at,
                      ct.created_at, ct.updated_at
                 FROM contacts ct LEFT JOIN logins l ON l.id = ct.login_id
                WHERE ct.client_id = $1"""
        ),
    ),
    ("services", _rows("SELECT * FROM services WHERE client_id = $1")),
    ("addons", _rows("SELECT * FROM addons WHERE client_id = $1")),
    ("domains", _rows("SELECT * FROM domains WHERE client_id = $1")),
    ("orders", _rows("SELECT * FROM orders WHERE client_id = $1")),
    (
        "invoices",
        _rows(
            """SELECT i.*, (SELECT coalesce(jsonb_agg(to_jsonb(it) ORDER BY it.id), '[]')
                              FROM invoice_items it WHERE it.invoice_id = i.id) AS items
                 FROM invoices i WHERE i.client_id = $1"""
        ),
    ),
    (
        "tickets",
        _rows(
            """SELECT t.*, (SELECT coalesce(jsonb_agg(to_jsonb(m) ORDER BY m.id), '[]')
                              FROM ticket_messages m WHERE m.ticket_id = t.id) AS messages
                 FROM tickets t WHERE t.client_id = $1"""
        ),
    ),
    (
        "files",
        _rows(
            """SELECT id, title, filename, content_type, size, admin_only, uploaded_at
                 FROM client_files WHERE client_id = $1"""
        ),
    ),
    ("transactions", _rows("SELECT * FROM transactions WHERE client_id = $1")),
    ("creditLog", _rows("SELECT * FROM credit_log WHERE client_id = $1")),
    (
        "card",
        """SELECT to_jsonb(x) FROM (
               SELECT card_type, last_four, expiry, issue_number, start_date, updated_at
                 FROM cards WHERE client_id = $1) x""",
    ),
    (
        "emails",
        _rows(
            """SELECT id, template, category, to_address, to_name, subject, created_at,
                      sent_at, failed_at
                 FROM emails WHERE client_id = $1"""
        ),
    ),
    (
        "mergedFrom",
        "SELECT coalesce(jsonb_agg(merged_id ORDER BY merged_id), '[]') "
        "FROM client_merges WHERE into_id = $1",
    ),
    (
        "auditEntries",
        _rows("SELECT id, at, staff_id, action, changes FROM audit_log WHERE client_id = $1"),
    ),
)

_PROFILE = """SELECT to_jsonb(x) FROM (
    SELECT c.id, c.first_name, c.last_name, c.company_name, c.email::text, c.phone_number,
           c.address1, c.address2, c.city, c.state, c.postcode, c.country, c.language,
           c.currency, c.notes, c.status, c.overdue_notices_disabled, c.late_fees_exempt,
           c.tax_exempt, c.separate_invoices, c.cc_processing_disabled,
           c.default_payment_method, c.billing_contact_id, c.credit_balance,
           l.totp_enabled AS two_factor_enabled, l.last_login_at,
           c.created_at, c.updated_at
      FROM clients c JOIN logins l ON l.id = c.owner_login_id WHERE c.id = $1) x"""


async def export_client_data(
    conn: asyncpg.Connection, client_id: int, *, staff_id: int | None, for_staff: bool
) -> tuple[dict[str, Any], datetime]:
    """The document and when it was made; the export itself is audited. Opens its own
    transaction: call it outside one."""
    async with conn.transaction(isolation="repeatable_read"):
        # One snapshot: the sections agree with each other.
        profile = await conn.fetchval(_PROFILE, client_id)
        if profile is None:
            raise NotFound("Client")
        generated_at = datetime.now(UTC)
        document: dict[str, Any] = {
            "format": "clientdesk-client-export/1",
            "generatedAt": generated_at.isoformat(),
            "profile": profile,
        }
        for section, query in _SECTIONS:
            document[section] = await conn.fetchval(query, client_id)
        if not for_staff:
            _withhold_staff_notes(document)
            _withhold_internal_ticket_notes(document)
            _withhold_admin_only_files(document)
        await audit.record(
            conn, staff_id=staff_id, action="client.data_exported", client_id=client_id
        )
    return document, generated_at


def _withhold_internal_ticket_notes(document: dict[str, Any]) -> None:
    """Nor does it show staff's internal notes on tickets (SPEC 15.1)."""
    for ticket in document["tickets"]:
        ticket["messages"] = [m for m in ticket["messages"] if not m["internal"]]


def _withhold_staff_notes(document: dict[str, Any]) -> None:
    """The client area never shows the staff's notes on the account (`Client.notes` is null
    there): its own export leaves them out, and their changes in the audit entries."""
    del document["profile"]["notes"]
    for entry in document["auditEntries"]:
        entry["changes"].pop("notes", None)


def _withhold_admin_only_files(document: dict[str, Any]) -> None:
    """The client area sees only the files that are not admin-only (`files.may_see`): its own
    export leaves out the others, and the audit entries about them, which carry their titles
    and names. A deleted file counts as it was when deleted, by its audit trail; a file the
    trail does not tell about is withheld."""
    admin_only: dict[int, bool] = {}
    for entry in document["auditEntries"]:  # oldest first: the last state wins
        if entry["action"] in ("file.uploaded", "file.updated"):
            flag = entry["changes"].get("admin_only")
            if flag is not None:
                changed = isinstance(flag, dict)  # an update's {"from", "to"}
                admin_only[entry["changes"]["file_id"]] = flag["to"] if changed else flag
    admin_only.update({file["id"]: file["admin_only"] for file in document["files"]})
    document["files"] = [file for file in document["files"] if not file["admin_only"]]
    document["auditEntries"] = [
        entry
        for entry in document["auditEntries"]
        if not entry["action"].startswith("file.")
        or admin_only.get(entry["changes"].get("file_id"), True) is False
    ]
