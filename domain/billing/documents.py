"""What an invoice's document (its PDF) says: the company it is from, whom it is billed to,
its lines, tax, credit, payments and balance, read in a few statements for any number of
invoices (a worker attaches a batch of them to emails at once)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from domain.auth.permissions import ContactPermission, StaffPermission
from domain.auth.viewer import Viewer
from domain.billing.invoices import INVOICE_COLUMNS, invoice_from_row, items_by_invoice
from domain.billing.models import Invoice, InvoiceItem
from domain.settings import get_general_settings


@dataclass(frozen=True)
class Issuer:
    """The business an invoice is from (general settings)."""

    name: str
    address: str


@dataclass(frozen=True)
class DocumentPayment:
    """A payment shown on an invoice: when, how (the gateway's display name), its reference."""

    date: datetime
    method: str
    reference: str | None
    amount: Decimal


@dataclass(frozen=True)
class InvoiceDocument:
    issuer: Issuer
    invoice: Invoice
    lines: tuple[InvoiceItem, ...]
    payments: tuple[DocumentPayment, ...]

    @property
    def filename(self) -> str:
        return f"invoice-{self.invoice.number}.pdf"


async def invoice_documents(
    conn: asyncpg.Connection, invoice_ids: Sequence[int]
) -> dict[int, InvoiceDocument]:
    """The documents of those of `invoice_ids` that exist, by invoice id."""
    ids = list(invoice_ids)
    rows = await conn.fetch(
        f"SELECT {INVOICE_COLUMNS} FROM invoices WHERE id = ANY($1::bigint[])", ids
    )
    if not rows:
        return {}
    found = [invoice_from_row(row) for row in rows]
    lines = await items_by_invoice(conn, [invoice.id for invoice in found])
    paid = await conn.fetch(
        """SELECT t.invoice_id, t.date, coalesce(g.display_name, t.gateway) AS method,
                  t.transaction_id, t.amount
             FROM transactions t LEFT JOIN payment_gateways g ON g.name = t.gateway
            WHERE t.invoice_id = ANY($1::bigint[]) ORDER BY t.invoice_id, t.date, t.id""",
        ids,
    )
    payments: dict[int, list[DocumentPayment]] = {invoice.id: [] for invoice in found}
    for row in paid:
        payments[row["invoice_id"]].append(
            DocumentPayment(row["date"], row["method"], row["transaction_id"], row["amount"])
        )
    settings = await get_general_settings(conn)
    issuer = Issuer(settings.company_name, settings.company_address)
    return {
        invoice.id: InvoiceDocument(
            issuer, invoice, tuple(lines[invoice.id]), tuple(payments[invoice.id])
        )
        for invoice in found
    }


def may_read_invoice(viewer: Viewer, client_id: int) -> bool:
    """Who reads an invoice of client `client_id`, as the API's `invoice(id)` (staff who view
    clients) and `me.invoices` (the account holder, a sub-account granted INVOICES)."""
    return viewer.may_read_client(
        client_id, staff=StaffPermission.VIEW_CLIENTS, client_area=ContactPermission.INVOICES
    )
