"""SPEC 13.5 and 8.1: the "Invoice Created" and "Invoice Payment Confirmation" emails reach a
real SMTP server with the invoice's PDF attached, drawn when the worker sends them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from email.message import Message

import asyncpg
import httpx
import pytest

from app.settings import Settings
from app.worker import worker_resources
from domain.billing.models import ItemKind
from domain.emails.outbox import Attempt
from domain.emails.templates import INVOICE_ROW_KEY
from domain.settings import update_general_settings
from tests.conftest import Services, add_client, gid, gql
from tests.domain.test_automation import run
from tests.domain.test_billing_generation import active_order, due_date_of
from tests.domain.test_invoice_pdf import pdf_text
from workers.email import SENT, WorkerResources, send_attempts

RECORD_PAYMENT = """
mutation Pay($id: ID!, $amount: Decimal!) {
  recordPayment(invoiceId: $id, amount: $amount, gateway: "banktransfer") {
    invoice { status } errors { field code message }
  }
}"""


@pytest.fixture
async def resources(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[WorkerResources]:
    made = worker_resources(settings, pool)
    yield made
    await made.mailer.close()


# The emails queued but those of the services the tests' orders welcome (SPEC 14.2).
INVOICE_EMAILS = "SELECT {} FROM emails WHERE category <> 'PRODUCT'"


async def send_queued(resources: WorkerResources, conn: asyncpg.Connection, template: str) -> None:
    """Send the queued emails of `template` as a worker's job does."""
    ids = await conn.fetch("SELECT id FROM emails WHERE template = $1 ORDER BY id", template)
    outcomes = await send_attempts(resources, [Attempt(row["id"], 1) for row in ids])
    assert outcomes == [SENT] * len(ids)


def pdf_parts(message: Message) -> list[tuple[str | None, bytes]]:
    """The (filename, bytes) of each application/pdf part of a message."""
    found = []
    for part in message.walk():
        if part.get_content_type() == "application/pdf":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found.append((part.get_filename(), payload))
    return found


def text_of(message: Message) -> str:
    [text] = [
        part.get_payload(decode=True).decode()  # type: ignore[union-attr]
        for part in message.walk()
        if part.get_content_type() == "text/plain"
    ]
    return text


async def test_13_5_invoice_created_is_sent_with_the_invoice_pdf(
    conn: asyncpg.Connection, resources: WorkerResources, services: Services
) -> None:
    await update_general_settings(conn, company_name="Hosting Co Ltd")
    client = await add_client(conn, company_name="Bloggs Ltd")
    order = await active_order(conn, client, (ItemKind.SERVICE, "Hosting", "10.00"))
    await run(conn, due_date_of(order) - timedelta(days=14))
    # The order's own invoice is overdue by then, and gets its notice.
    [(number, context)] = await conn.fetch(
        """SELECT i.number, e.context FROM emails e
             JOIN invoices i ON i.id = (e.context ->> 'invoice_row_id')::bigint
            WHERE e.template = 'invoice_created'"""
    )
    assert context[INVOICE_ROW_KEY] != order.invoice_id
    # The row names the invoice; the PDF is drawn when the email is sent.
    assert len(json.dumps(context)) < 500

    await send_queued(resources, conn, "invoice_created")

    [message] = services.mail.messages
    assert message.get_content_type() == "multipart/mixed"
    assert f"Invoice #{number}" in text_of(message)
    [(filename, pdf)] = pdf_parts(message)
    assert filename == f"invoice-{number}.pdf"
    text = pdf_text(pdf)
    lines = text.splitlines()
    assert lines[0] == "Hosting Co Ltd" and f"Invoice #{number}" in lines
    assert "Joe Bloggs" in lines and "Bloggs Ltd" in lines
    assert any(line.startswith("Hosting (") and line.endswith(" 10.00 USD") for line in lines)
    assert "Total 10.00 USD" in lines
    # The log keeps what the email said, not its attachment.
    kept = await conn.fetchval("SELECT body FROM emails WHERE template = 'invoice_created'")
    assert "%PDF" not in kept and "base64" not in kept


async def test_13_5_the_payment_that_settles_an_invoice_sends_the_confirmation_with_its_pdf(
    api: httpx.AsyncClient,
    admin_token: str,
    conn: asyncpg.Connection,
    resources: WorkerResources,
    services: Services,
) -> None:
    client = await add_client(conn)
    order = await active_order(conn, client, (ItemKind.SERVICE, "Hosting", "30.00"))
    assert order.invoice_id is not None
    invoice = gid("Invoice", order.invoice_id)

    async def pay(amount: str) -> str:
        body = await gql(api, RECORD_PAYMENT, {"id": invoice, "amount": amount}, token=admin_token)
        payload = body["data"]["recordPayment"]
        assert payload["errors"] == []
        status: str = payload["invoice"]["status"]
        return status

    assert await pay("10.00") == "UNPAID"
    # Accepting the order welcomed its service (a PRODUCT email): the invoice's are counted.
    assert await conn.fetchval(INVOICE_EMAILS.format("count(*)")) == 0
    assert await pay("20.00") == "PAID"
    # A payment of the paid invoice becomes credit (SPEC 3.4) and confirms nothing again.
    assert await pay("5.00") == "PAID"
    assert await conn.fetchval(INVOICE_EMAILS.format("array_agg(template)")) == [
        "invoice_payment_confirmation"
    ]

    await send_queued(resources, conn, "invoice_payment_confirmation")

    [message] = services.mail.messages
    number = await conn.fetchval("SELECT number FROM invoices WHERE id = $1", order.invoice_id)
    assert message["Subject"] == f"Invoice #{number} paid"
    assert "30.00 USD" in text_of(message)
    [(filename, pdf)] = pdf_parts(message)
    assert filename == f"invoice-{number}.pdf"
    lines = pdf_text(pdf).splitlines()
    assert "Status: Paid" in lines and "Balance due 0.00 USD" in lines
    assert sum(line.startswith("Payment ") for line in lines) == 3


async def test_13_5_reminders_carry_no_pdf(
    conn: asyncpg.Connection, resources: WorkerResources, services: Services
) -> None:
    client = await add_client(conn)
    order = await active_order(conn, client, (ItemKind.SERVICE, "Hosting", "10.00"))
    assert order.invoice_id is not None
    await conn.execute(
        "UPDATE invoices SET due_date = current_date + 3 WHERE id = $1", order.invoice_id
    )
    await run(conn, due_date_of(order) - timedelta(days=30))
    assert await conn.fetchval(INVOICE_EMAILS.format("array_agg(template)")) == [
        "invoice_payment_reminder"
    ]

    await send_queued(resources, conn, "invoice_payment_reminder")

    [message] = services.mail.messages
    assert pdf_parts(message) == []
