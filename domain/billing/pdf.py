"""An invoice's PDF, drawn with fpdf2 from its `InvoiceDocument`.

The PDF uses Helvetica, one of the fonts every PDF reader has, so no font file ships with
the package; its encoding is Windows-1252 (Western European letters, €, typographic quotes).
A character outside it (a Cyrillic name, say) is written as its unaccented letter when it
has one, else as "?": the invoice still prints, and its data stay exact in the API.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from domain.billing.documents import InvoiceDocument
from domain.billing.models import BilledTo
from domain.money import format_amount

ENCODING = "cp1252"
# A4 in millimetres: the printable width between 15 mm margins, and the amount column.
WIDTH = 180.0
AMOUNT_WIDTH = 40.0
LINE = 6.0


def printable(text: str) -> str:
    """`text` as Helvetica in Windows-1252 can draw it (see the module's docstring)."""
    if _encodable(text):
        return text
    return "".join(ch if _encodable(ch) else _fallback(ch) for ch in text)


def _encodable(text: str) -> bool:
    try:
        text.encode(ENCODING)
    except UnicodeEncodeError:
        return False
    return True


def _fallback(ch: str) -> str:
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if _encodable(c))
    return base or "?"


def billed_to_lines(billed_to: BilledTo) -> list[str]:
    place = " ".join(p for p in (billed_to.postcode, billed_to.city) if p)
    parts = [
        billed_to.name,
        billed_to.company_name,
        billed_to.address1,
        billed_to.address2,
        place,
        billed_to.state,
        billed_to.country,
    ]
    return [part for part in parts if part and part.strip()]


class _Page(FPDF):
    def __init__(self) -> None:
        super().__init__(format="A4")
        self.core_fonts_encoding = ENCODING
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=15)
        self.add_page()

    def text_line(self, text: str, *, size: float = 10, bold: bool = False) -> None:
        self.set_font("Helvetica", "B" if bold else "", size)
        self.multi_cell(WIDTH, LINE, printable(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def amount_row(self, label: str, amount: str, *, bold: bool = False) -> None:
        """A row of a label and an amount aligned right (the lines, the totals)."""
        self.set_font("Helvetica", "B" if bold else "", 10)
        label_width = WIDTH - AMOUNT_WIDTH
        # The amount beside the label's last line: a long label wraps, and may even break
        # onto the next page, where the amount then follows it.
        self.multi_cell(label_width, LINE, printable(label), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_xy(self.l_margin + label_width, self.get_y() - LINE)
        self.cell(AMOUNT_WIDTH, LINE, printable(amount), align="R")
        self.set_xy(self.l_margin, self.get_y() + LINE)


def render_invoice_pdf(document: InvoiceDocument) -> bytes:
    """The PDF of an invoice: the company, the invoice's number, dates and status, whom it is
    billed to, its lines, subtotal, tax, credit applied, payments and balance, in its own
    currency."""
    invoice = document.invoice

    def money(amount: Decimal) -> str:
        return f"{format_amount(amount)} {invoice.currency}"

    pdf = _Page()
    pdf.set_title(printable(f"Invoice #{invoice.number}"))
    if document.issuer.name:
        pdf.set_author(printable(document.issuer.name))
        pdf.text_line(document.issuer.name, size=14, bold=True)
    for line in document.issuer.address.splitlines():
        pdf.text_line(line)
    pdf.ln(LINE)
    pdf.text_line(f"Invoice #{invoice.number}", size=16, bold=True)
    pdf.text_line(f"Status: {invoice.status.value.capitalize()}")
    pdf.text_line(f"Invoice date: {invoice.issue_date.isoformat()}")
    pdf.text_line(f"Due date: {invoice.due_date.isoformat()}")
    if invoice.paid_at is not None:
        pdf.text_line(f"Paid on: {invoice.paid_at.date().isoformat()}")
    pdf.ln(LINE)
    pdf.text_line("Billed to", bold=True)
    for line in billed_to_lines(invoice.billed_to):
        pdf.text_line(line)
    pdf.ln(LINE)
    pdf.amount_row("Description", "Amount", bold=True)
    for item in document.lines:
        pdf.amount_row(item.description, money(item.amount))
    pdf.ln(LINE / 2)
    pdf.amount_row("Subtotal", money(invoice.subtotal))
    if invoice.tax or invoice.tax_rate:
        pdf.amount_row(f"Tax ({format_amount(invoice.tax_rate)}%)", money(invoice.tax))
    pdf.amount_row("Total", money(invoice.total), bold=True)
    if invoice.credit:
        pdf.amount_row("Credit applied", f"-{money(invoice.credit)}")
    for payment in document.payments:
        reference = f", {payment.reference}" if payment.reference else ""
        pdf.amount_row(
            f"Payment {payment.date.date().isoformat()} ({payment.method}{reference})",
            f"-{money(payment.amount)}",
        )
    pdf.amount_row("Balance due", money(invoice.balance), bold=True)
    pdf.ln(LINE)
    pdf.text_line(f"All amounts in {invoice.currency}.", size=8)
    return bytes(pdf.output())
