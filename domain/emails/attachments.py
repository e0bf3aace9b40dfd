"""The files sent with outbox emails: an invoice's PDF with the emails whose template says so
(`EmailTemplate.attaches_invoice_pdf`, SPEC 13.5).

The PDF is drawn when the worker sends the email, not when it is queued: the outbox row stays
a small JSON context (the invoice's id), and queueing stays cheap inside the transaction that
causes the email, where the daily run queues an "Invoice Created" for each of thousands of
invoices in one statement. Storing the PDFs in the file store instead would cost a write and
a cleanup per email for bytes that can be drawn again at any time from the invoice. The PDF
shows the invoice as it is when sent, as its download would; an invoice gone by then (its
client deleted) sends the email without it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import asyncpg

from domain.billing.documents import InvoiceDocument, invoice_documents
from domain.billing.pdf import render_invoice_pdf
from domain.emails.message import Attachment
from domain.emails.outbox import Email
from domain.emails.templates import INVOICE_ROW_KEY, TEMPLATES

log = logging.getLogger(__name__)

PDF = "application/pdf"


def _invoice_of(email: Email) -> int | None:
    template = TEMPLATES.get(email.template)
    if template is None or not template.attaches_invoice_pdf:
        return None
    invoice_id = email.context.get(INVOICE_ROW_KEY)
    return invoice_id if isinstance(invoice_id, int) else None


class EmailAttachments:
    """The attachments of a batch of emails: their invoices read in one go by `load`, each
    PDF drawn when its email is composed (a drawing that fails fails that email alone)."""

    def __init__(self, documents: dict[int, InvoiceDocument]) -> None:
        self._documents = documents
        self._drawn: dict[int, bytes] = {}

    @classmethod
    async def load(cls, conn: asyncpg.Connection, emails: Sequence[Email]) -> EmailAttachments:
        wanted = {invoice_id for email in emails if (invoice_id := _invoice_of(email))}
        return cls(await invoice_documents(conn, sorted(wanted)) if wanted else {})

    def of(self, email: Email) -> list[Attachment]:
        invoice_id = _invoice_of(email)
        if invoice_id is None:
            return []
        document = self._documents.get(invoice_id)
        if document is None:
            log.warning("email %s: invoice %s is gone; sent without its PDF", email.id, invoice_id)
            return []
        if invoice_id not in self._drawn:
            # A copy to a contact shares the main email's invoice, and is drawn once.
            self._drawn[invoice_id] = render_invoice_pdf(document)
        return [Attachment(document.filename, PDF, self._drawn[invoice_id])]
