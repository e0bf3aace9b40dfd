"""SPEC 13.2 and 13.3 through GraphQL: a client pays its invoices with credit and with its
stored card, staff apply credit, refund payments (the dashboard's income falls by them) and
cancel unpaid invoices.

Sessions are opened on the domain directly, so that argon2 does not dominate the run time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from domain.auth import sessions
from domain.auth.permissions import ContactPermission, StaffRole
from domain.billing.invoices import create_invoice
from domain.cards import services as cards
from domain.credit.services import add_credit
from tests.api.test_credit import TTL, add_sub_account, open_staff_session, payload_of
from tests.conftest import TEST_KEYRING, add_client, gid, pk

ERRORS = "errors { field code message }"
INVOICE = "invoice { id status credit amountPaid balance }"
PAY = f"""
mutation Pay($id: ID!, $source: PaymentSource!, $key: String) {{
  payInvoice(invoiceId: $id, source: $source, idempotencyKey: $key) {{
    {INVOICE} transaction {{ id amount gateway transactionId }} {ERRORS}
  }}
}}"""
APPLY = f"""
mutation Apply($id: ID!, $amount: Decimal!) {{
  applyCredit(invoiceId: $id, amount: $amount) {{ {INVOICE} {ERRORS} }}
}}"""
REFUND = f"""
mutation Refund($id: ID!, $amount: Decimal, $toCredit: Boolean, $key: String) {{
  refundTransaction(id: $id, amount: $amount, toCredit: $toCredit, idempotencyKey: $key) {{
    refund {{ id amount refundOf refundKind transactionId }} transaction {{ id }}
    {INVOICE} {ERRORS}
  }}
}}"""
CANCEL = f"""
mutation Cancel($id: ID!) {{ cancelInvoice(id: $id) {{ {INVOICE} {ERRORS} }} }}"""
INCOME = """
query Income($day: Date!) {
  dashboard { income(from: $day, to: $day, interval: DAY) { totals { currency amount } } }
}"""


@pytest.fixture
async def staff_token(conn: asyncpg.Connection) -> str:
    return await open_staff_session(conn, StaffRole.BILLING, "billing@staff.example.com")


async def client_with_invoice(
    conn: asyncpg.Connection, email: str = "joe@example.com", amount: str = "20.00"
) -> tuple[int, str, str]:
    """A client paying by the test card gateway, its session and an unpaid invoice's id."""
    client = await add_client(conn, email=email)
    await conn.execute(
        "UPDATE clients SET default_payment_method = 'testcard' WHERE id = $1", client.id
    )
    invoice_id = await new_invoice(conn, client.id, amount)
    token = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    return client.id, token, invoice_id


async def new_invoice(conn: asyncpg.Connection, client_id: int, amount: str) -> str:
    invoice = await create_invoice(
        conn,
        client_id,
        items=[{"description": "Hosting", "amount": amount, "taxed": False}],
        due_date=None,
        payment_method="testcard",
        staff_id=None,
    )
    return gid("Invoice", invoice.id)


async def save_card(conn: asyncpg.Connection, client_id: int, number: str) -> None:
    await cards.save_card(
        conn, TEST_KEYRING, client_id, number=number, expiry="12/30", staff_id=None
    )


async def pay(api: httpx.AsyncClient, token: str, invoice: str, source: str, **more: Any) -> Any:
    return await payload_of(api, token, PAY, id=invoice, source=source, **more)


def errors(payload: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


async def test_13_2_a_client_pays_one_invoice_with_credit_and_another_with_its_card(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client_id, token, first = await client_with_invoice(conn)
    await add_credit(
        conn, client_id, amount="8", description="Goodwill", staff_id=None, login_id=None
    )
    paid = await pay(api, token, first, "CREDIT")
    assert paid["errors"] == [] and paid["transaction"] is None
    assert paid["invoice"] | {"id": None} == {
        "id": None,
        "status": "UNPAID",
        "credit": "8.00",
        "amountPaid": "0.00",
        "balance": "12.00",
    }
    refused = await pay(api, token, first, "CREDIT")
    assert errors(refused) == [("source", "INSUFFICIENT_CREDIT")]
    await save_card(conn, client_id, "4111111111111111")
    second = await new_invoice(conn, client_id, "30.00")
    for _ in range(2):  # a retry with the key is the first payment, not a second charge
        paid = await pay(api, token, second, "STORED_CARD", key="pay-second-1")
        assert paid["errors"] == []
        assert paid["invoice"]["status"] == "PAID"
        assert (paid["transaction"]["amount"], paid["transaction"]["gateway"]) == (
            "30.00",
            "testcard",
        )
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 1
    # The card pays the rest of the first invoice too.
    paid = await pay(api, token, first, "STORED_CARD")
    assert (paid["invoice"]["status"], paid["transaction"]["amount"]) == ("PAID", "12.00")


async def test_13_2_a_declined_card_leaves_the_invoice_unpaid_with_the_reason(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client_id, token, invoice = await client_with_invoice(conn)
    await save_card(conn, client_id, "4000000000000002")
    refused = await pay(api, token, invoice, "STORED_CARD")
    assert refused["errors"] == [
        {"field": "source", "code": "PAYMENT_DECLINED", "message": "Card declined."}
    ]
    assert refused["invoice"] is None
    row = await conn.fetchrow(
        "SELECT status, balance FROM invoices WHERE id = $1", pk(invoice, "Invoice")
    )
    assert tuple(row) == ("UNPAID", Decimal("20.00"))
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 0


async def test_13_2_no_card_payment_without_a_card_or_with_card_processing_disabled(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client_id, token, invoice = await client_with_invoice(conn)
    assert errors(await pay(api, token, invoice, "STORED_CARD")) == [("source", "NOT_CONFIGURED")]
    await save_card(conn, client_id, "4111111111111111")
    # SPEC 1.5: the client pays by hand.
    await conn.execute("UPDATE clients SET cc_processing_disabled = true WHERE id = $1", client_id)
    assert errors(await pay(api, token, invoice, "STORED_CARD")) == [("source", "FORBIDDEN")]
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 0


async def test_13_2_a_sub_account_with_invoices_pays_but_never_another_clients_invoice(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    client_id, _, invoice = await client_with_invoice(conn)
    other_id, _, others = await client_with_invoice(conn, email="ann@example.com")
    for owner in (client_id, other_id):
        await save_card(conn, owner, "4111111111111111")
    books = await add_sub_account(
        conn, client_id, "books@example.com", [ContactPermission.INVOICES.value]
    )
    refused = await pay(api, books, others, "STORED_CARD")
    assert errors(refused) == [("invoiceId", "NOT_FOUND")]
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 0
    paid = await pay(api, books, invoice, "STORED_CARD")
    assert paid["invoice"]["status"] == "PAID"


async def income_today(api: httpx.AsyncClient, token: str) -> list[dict[str, str]]:
    day = datetime.now(UTC).date().isoformat()
    body = await payload_of(api, token, INCOME, day=day)
    [period] = body["income"]
    totals: list[dict[str, str]] = period["totals"]
    return totals


async def test_13_3_a_card_refund_goes_through_the_gateway_and_lowers_the_income(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client_id, token, invoice = await client_with_invoice(conn)
    await save_card(conn, client_id, "4111111111111111")
    payment = (await pay(api, token, invoice, "STORED_CARD"))["transaction"]["id"]
    assert await income_today(api, staff_token) == [{"currency": "USD", "amount": "20.00"}]
    for _ in range(2):  # the same key: one refund
        part = await payload_of(api, staff_token, REFUND, id=payment, amount="5", key="r-1")
        assert part["errors"] == []
        assert part["refund"]["amount"] == "-5.00"
        assert (part["refund"]["refundOf"], part["refund"]["refundKind"]) == (payment, "GATEWAY")
        assert part["refund"]["transactionId"].startswith("test_re_")
        assert (part["invoice"]["status"], part["invoice"]["balance"]) == ("PAID", "5.00")
    assert await income_today(api, staff_token) == [{"currency": "USD", "amount": "15.00"}]
    too_much = await payload_of(api, staff_token, REFUND, id=payment, amount="15.01")
    assert errors(too_much) == [("amount", "INVALID")]
    rest = await payload_of(api, staff_token, REFUND, id=payment)
    assert (rest["refund"]["amount"], rest["invoice"]["status"]) == ("-15.00", "REFUNDED")
    assert await income_today(api, staff_token) == []
    audited = await conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'transaction.refunded'"
    )
    assert audited == 2


async def test_13_3_staff_refund_to_credit_apply_credit_and_cancel_an_invoice(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client_id, _, invoice = await client_with_invoice(conn)
    body = await payload_of(
        api,
        staff_token,
        """mutation Pay($id: ID!) { recordPayment(invoiceId: $id, amount: "20.00",
             gateway: "banktransfer") { transaction { id } } }""",
        id=invoice,
    )
    payment = body["transaction"]["id"]
    refund = await payload_of(api, staff_token, REFUND, id=payment, amount="20", toCredit=True)
    assert (refund["refund"]["refundKind"], refund["invoice"]["status"]) == ("CREDIT", "REFUNDED")
    balance = "SELECT credit_balance FROM clients WHERE id = $1"
    assert await conn.fetchval(balance, client_id) == Decimal("20.00")
    second = await new_invoice(conn, client_id, "50.00")  # takes the 20.00 (SPEC 3.5)
    await add_credit(
        conn, client_id, amount="40", description="Goodwill", staff_id=None, login_id=None
    )
    refused = await payload_of(api, staff_token, APPLY, id=second, amount="30.01")
    assert errors(refused) == [("amount", "INVALID")] and refused["invoice"] is None
    applied = await payload_of(api, staff_token, APPLY, id=second, amount="10")
    assert (applied["invoice"]["credit"], applied["invoice"]["balance"]) == ("30.00", "20.00")
    assert await conn.fetchval(balance, client_id) == Decimal("30.00")
    cancelled = await payload_of(api, staff_token, CANCEL, id=second)
    assert (cancelled["invoice"]["status"], cancelled["invoice"]["credit"]) == (
        "CANCELLED",
        "0.00",
    )
    assert await conn.fetchval(balance, client_id) == Decimal("60.00")
    again = await payload_of(api, staff_token, CANCEL, id=second)
    assert errors(again) == [("id", "INVALID")]


async def test_13_3_cancel_and_apply_credit_retried_with_their_key_change_nothing_again(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client_id, _, invoice = await client_with_invoice(conn)
    await add_credit(
        conn, client_id, amount="9", description="Goodwill", staff_id=None, login_id=None
    )
    apply = """mutation Apply($id: ID!, $key: String) {
      applyCredit(invoiceId: $id, amount: "4", idempotencyKey: $key) { invoice { credit } } }"""
    cancel = """mutation Cancel($id: ID!, $key: String) {
      cancelInvoice(id: $id, idempotencyKey: $key) { invoice { status } errors { code } } }"""
    for _ in range(2):
        applied = await payload_of(api, staff_token, apply, id=invoice, key="apply-1")
        assert applied["invoice"]["credit"] == "4.00"
    for _ in range(2):
        cancelled = await payload_of(api, staff_token, cancel, id=invoice, key="cancel-1")
        assert (cancelled["invoice"]["status"], cancelled["errors"]) == ("CANCELLED", [])
    balance = "SELECT credit_balance FROM clients WHERE id = $1"
    assert await conn.fetchval(balance, client_id) == Decimal("9.00")
    logged = await conn.fetchval("SELECT count(*) FROM credit_log WHERE client_id = $1", client_id)
    assert logged == 3  # added, applied, returned: once each
