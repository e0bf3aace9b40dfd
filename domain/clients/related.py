"""Every table that holds rows of a client, in one list that merge, delete and the completeness
test all read (SPEC 7.1, 7.2). A new client-owned table is one more line here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClientTable:
    table: str
    column: str = "client_id"
    # Kept when the client is deleted (income records, the audit trail); removed otherwise.
    kept_on_delete: bool = False


# Merge moves each of these to the kept client; delete removes them in this order, except
# those kept. The card (bound to its client by its encryption) is handled on its own.
CLIENT_TABLES: tuple[ClientTable, ...] = (
    ClientTable("emails"),
    ClientTable("credit_log"),
    ClientTable("services"),
    ClientTable("addons"),
    ClientTable("domains"),
    ClientTable("orders"),
    ClientTable("quotes"),  # their lines hang off the quote
    ClientTable("invoices"),
    ClientTable("tickets"),  # their messages hang off the ticket, not the client
    ClientTable("client_files"),  # rows only: the bytes stay where they are, or go after a delete
    ClientTable("contacts"),
    # Redirects of clients merged earlier follow their client into the next merge.
    ClientTable("client_merges", "into_id"),
    ClientTable("transactions", kept_on_delete=True),
    ClientTable("audit_log", kept_on_delete=True),
)

# Columns naming a client that are not rows of it: the card (moved re-encrypted or removed by
# hand), the redirect's own removed id, and the event log (SPEC 12.1): facts as they were
# committed, with the ids of their moment (a merge or a delete records events of its own),
# holding no personal data and purged after EVENT_RETENTION_HOURS; and the client's customer
# at a gateway that keeps cards, which goes with its client (cascade): a card that moves
# names its gateway customer itself.
#
# An affiliate account and a referral are one per client (unique): the kept client keeps its
# own, and those of the client merged away go with it (their foreign keys cascade), as they
# do when it is deleted.
HANDLED_APART: frozenset[tuple[str, str]] = frozenset(
    {
        ("cards", "client_id"),
        ("client_merges", "merged_id"),
        ("events", "client_id"),
        ("gateway_customers", "client_id"),
        ("affiliates", "client_id"),
        ("affiliate_referrals", "client_id"),
    }
)

# Columns that point at contacts. Contacts keep their ids when they move to the kept client,
# so a merge leaves these valid; a delete removes the contacts and each of these must then
# cascade or be set null by its foreign key.
CONTACT_REFERENCES: frozenset[tuple[str, str]] = frozenset(
    {
        ("emails", "contact_id"),
        ("clients", "billing_contact_id"),
        ("tickets", "contact_id"),
        # A pending invitation: it moves with its contact, and goes with it (cascade).
        ("password_tokens", "contact_id"),
    }
)
