"""SPEC 13.5 at the domain layer: an invoice's PDF says what the invoice says, read back as
text with pypdf."""

from __future__ import annotations

import io
from datetime import date

import asyncpg
import pytest
from pypdf import PdfReader

from domain.billing import invoices, tax
from domain.billing.documents import invoice_documents
from domain.billing.pdf import printable, render_invoice_pdf
from domain.contacts import services as contact_services
from domain.credit.ledger import record_entry
from domain.errors import DomainError
from domain.settings import update_general_settings
from tests.conftest import add_client, pay_by_transfer
from tests.domain.test_billing import D


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


async def billed_invoice(conn: asyncpg.Connection) -> int:
    """An invoice of a GB client in GBP with VAT, a billing contact, credit and a payment."""
    client = await add_client(conn, company_name="Bloggs Ltd", country="GB", currency="GBP")
    contact = await contact_services.add_contact(
        conn,
        client.id,
        {
            "first_name": "Bill",
            "last_name": "Payer",
            "email": "accounts@example.com",
            "company_name": "Bloggs Accounts",
            "address1": "1 Counting House Lane",
            "city": "Leeds",
            "postcode": "LS1 1AA",
            "country": "GB",
        },
        staff_id=None,
        may_grant_access=True,
    )
    await contact_services.set_billing_contact(conn, client.id, contact.id, staff_id=None)
    await tax.set_tax_rule(conn, country="GB", state=None, name="VAT", rate="20")
    await record_entry(conn, client_id=client.id, amount=D("10.00"), description="Goodwill")
    invoice = await invoices.create_invoice(
        conn,
        client.id,
        items=[
            {"description": "Web hosting (2030-01-01 - 2030-01-31)", "amount": "100.00"},
            {"description": "Postage", "amount": "5.55", "taxed": False},
        ],
        due_date=date(2030, 1, 31),
        payment_method="banktransfer",
        staff_id=None,
    )
    await pay_by_transfer(conn, invoice.id, "50.00", transaction_id="BANK-42")
    return invoice.id


async def test_13_5_the_pdf_shows_company_billed_to_lines_tax_credit_payments_and_balance(
    conn: asyncpg.Connection,
) -> None:
    await update_general_settings(
        conn, company_name="Hosting Co Ltd", company_address="2 Server Street\nManchester M1"
    )
    invoice_id = await billed_invoice(conn)
    document = (await invoice_documents(conn, [invoice_id]))[invoice_id]

    text = pdf_text(render_invoice_pdf(document))

    number = document.invoice.number
    lines = text.splitlines()
    assert lines[:3] == ["Hosting Co Ltd", "2 Server Street", "Manchester M1"]
    for expected in [
        f"Invoice #{number}",
        "Status: Unpaid",
        "Due date: 2030-01-31",
        "Bill Payer",
        "Bloggs Accounts",
        "1 Counting House Lane",
        "LS1 1AA Leeds",
        "Web hosting (2030-01-01 - 2030-01-31) 100.00 GBP",
        "Postage 5.55 GBP",
        "Subtotal 105.55 GBP",
        "Tax (20.00%) 20.00 GBP",
        "Total 125.55 GBP",
        "Credit applied -10.00 GBP",
        "Balance due 65.55 GBP",
    ]:
        assert expected in lines, (expected, text)
    assert any(
        line.startswith("Payment ") and "(Bank Transfer, BANK-42) -50.00 GBP" in line
        for line in lines
    ), text
    # The client's own name is not whom the invoice is addressed to (SPEC 2.5).
    assert "Joe Bloggs" not in text
    assert document.filename == f"invoice-{number}.pdf"


async def test_13_5_a_name_the_pdf_font_cannot_draw_still_prints(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn, first_name="Zoë", last_name="Łukasz", company_name="Café €")
    invoice = await invoices.create_invoice(
        conn,
        client.id,
        items=[{"description": "Überweisung – “Support”", "amount": "1.00"}],
        due_date=None,
        payment_method=None,
        staff_id=None,
    )
    document = (await invoice_documents(conn, [invoice.id]))[invoice.id]

    text = pdf_text(render_invoice_pdf(document))

    assert "Zoë ?ukasz" in text and "Café €" in text
    assert "Überweisung – “Support” 1.00 USD" in text
    assert (printable("Ĺubica Dvořák"), printable("Ёлка")) == ("Lubica Dvorák", "????")


async def test_13_5_an_invoice_that_does_not_exist_has_no_document(
    conn: asyncpg.Connection,
) -> None:
    assert await invoice_documents(conn, [123456]) == {}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"company_name": "Line\nbreak"}, "company_name"),
        ({"company_name": "x" * 256}, "company_name"),
        ({"company_address": "y" * 1001}, "company_address"),
    ],
)
async def test_10_2_the_company_name_and_address_refuse_bad_input_per_field(
    conn: asyncpg.Connection, changes: dict[str, str], field: str
) -> None:
    with pytest.raises(DomainError) as refused:
        await update_general_settings(conn, **changes)

    assert [error.field for error in refused.value.errors] == [field]
    settings = await update_general_settings(conn, company_address="  1 Road\nTown  ")
    assert (settings.company_name, settings.company_address) == ("", "1 Road\nTown")
