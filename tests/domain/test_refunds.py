"""SPEC 13.3 on the domain: refunds through the gateway, to credit and by hand, out of an
overpayment's credit first; never more than was paid, 100 at once included; applying credit
and cancelling invoices."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping
from decimal import Decimal

import asyncpg
import pytest

from app import db
from app.settings import Settings
from domain.billing.credit_use import apply_credit, cancel_invoice
from domain.billing.gateway_protocol import PaymentGateway, RefundResult
from domain.billing.invoices import create_invoice
from domain.billing.models import InvoiceStatus, RefundKind
from domain.billing.payments import Payment, record_payment
from domain.billing.refunds import Refund, refund_transaction
from domain.billing.testcard import TestCardGateway
from domain.credit.services import add_credit
from domain.errors import DomainError, ErrorCode
from tests.conftest import CLIENT_AREA_URL, add_client, pay_by_transfer

_emails = itertools.count()


async def balance_of(conn: asyncpg.Connection, client_id: int) -> Decimal:
    value: Decimal = await conn.fetchval(
        "SELECT credit_balance FROM clients WHERE id = $1", client_id
    )
    return value


async def invoice_of(
    conn: asyncpg.Connection, client_id: int, amount: str, method: str | None = None
) -> int:
    invoice = await create_invoice(
        conn,
        client_id,
        items=[{"description": "Hosting", "amount": amount, "taxed": False}],
        due_date=None,
        payment_method=method,
        staff_id=None,
    )
    return invoice.id


def codes(error: pytest.ExceptionInfo[DomainError]) -> list[tuple[str | None, ErrorCode]]:
    return [(e.field, e.code) for e in error.value.errors]


async def paid_invoice(
    conn: asyncpg.Connection, amount: str, gateway: str = "banktransfer"
) -> tuple[int, int, Payment]:
    """A new client's invoice of `amount`, paid in full through `gateway`: the client, the
    invoice and the payment (with a gateway reference for the card gateway)."""
    client = await add_client(conn, email=f"pat{next(_emails)}@example.com")
    card = gateway == "testcard"
    invoice_id = await invoice_of(conn, client.id, amount, method=gateway if card else None)
    payment = await record_payment(
        conn,
        invoice_id,
        amount=amount,
        gateway=gateway,
        transaction_id=f"ch_{next(_emails)}" if card else None,
        staff_id=None,
        client_area_url=CLIENT_AREA_URL,
    )
    return client.id, invoice_id, payment


async def pay(conn: asyncpg.Connection, invoice_id: int, amount: str) -> Payment:
    """A payment by bank transfer: of a paid invoice, all of it becomes credit (SPEC 3.4)."""
    return await pay_by_transfer(conn, invoice_id, amount)


async def refund(
    conn: asyncpg.Connection,
    payment: Payment,
    amount: str | None,
    *,
    to_credit: bool = False,
    gateways: Mapping[str, PaymentGateway] | None = None,
) -> Refund:
    return await refund_transaction(
        conn,
        payment.transaction.id,
        amount=amount,
        to_credit=to_credit,
        gateways=gateways or {},
        staff_id=None,
    )


async def test_13_3_a_manual_payment_refunded_in_full_makes_the_invoice_refunded(
    conn: asyncpg.Connection,
) -> None:
    _, _, payment = await paid_invoice(conn, "30.00")
    part = await refund(conn, payment, "10")
    assert part.refund.amount == Decimal("-10.00")
    assert (part.refund.refund_of, part.refund.refund_kind) == (
        payment.transaction.id,
        RefundKind.MANUAL,
    )
    assert part.invoice is not None and part.invoice.status is InvoiceStatus.PAID
    assert part.invoice.balance == Decimal("10.00")
    rest = await refund(conn, payment, None)
    assert rest.refund.amount == Decimal("-20.00")
    assert rest.invoice is not None and rest.invoice.status is InvoiceStatus.REFUNDED
    with pytest.raises(DomainError) as refused:
        await refund(conn, payment, "0.01")
    assert codes(refused) == [("id", ErrorCode.INVALID)]
    actions = await conn.fetch(
        "SELECT changes FROM audit_log WHERE action = 'transaction.refunded' ORDER BY id"
    )
    assert [row["changes"]["amount"] for row in actions] == ["10.00", "20.00"]


async def test_13_3_a_refund_to_credit_raises_the_balance_and_never_exceeds_the_payment(
    conn: asyncpg.Connection,
) -> None:
    client_id, _, payment = await paid_invoice(conn, "25.00")
    with pytest.raises(DomainError) as refused:
        await refund(conn, payment, "25.01", to_credit=True)
    assert codes(refused) == [("amount", ErrorCode.INVALID)]
    done = await refund(conn, payment, "25", to_credit=True)
    assert done.refund.refund_kind is RefundKind.CREDIT
    assert await balance_of(conn, client_id) == Decimal("25.00")
    assert done.invoice is not None and done.invoice.status is InvoiceStatus.REFUNDED


async def test_13_3_an_overpayment_is_refunded_out_of_its_credit_first(
    conn: asyncpg.Connection,
) -> None:
    client_id, invoice_id, _ = await paid_invoice(conn, "10.00")
    # A second subscription's payment of the paid invoice: all of it is credit (SPEC 3.4).
    second = await pay(conn, invoice_id, "10.00")
    assert await balance_of(conn, client_id) == Decimal("10.00")
    done = await refund(conn, second, None)
    assert done.refund.credited == Decimal("10.00")
    assert await balance_of(conn, client_id) == Decimal("0.00")
    # The first payment is still the invoice's.
    assert done.invoice is not None and done.invoice.status is InvoiceStatus.PAID
    with pytest.raises(DomainError) as refused:
        await refund(conn, second, "1", to_credit=True)
    assert codes(refused) == [("id", ErrorCode.INVALID)]


async def test_13_3_spent_overpayment_credit_cannot_be_refunded(
    conn: asyncpg.Connection,
) -> None:
    client_id, invoice_id, _ = await paid_invoice(conn, "10.00")
    over = await pay(conn, invoice_id, "5.00")
    await invoice_of(conn, client_id, "5.00")  # spends the 5.00 overpaid (SPEC 3.5)
    with pytest.raises(DomainError) as refused:
        await refund(conn, over, None)
    assert codes(refused) == [("amount", ErrorCode.INSUFFICIENT_CREDIT)]
    assert await conn.fetchval("SELECT count(*) FROM transactions WHERE refund_of IS NOT NULL") == 0


class DecliningRefunds(TestCardGateway):
    """The test gateway, refusing every refund, as a processor may."""

    async def refund(
        self, *, transaction_id: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> RefundResult:
        return RefundResult(approved=False, message="Refund window closed.")


async def test_13_3_a_card_payment_goes_back_through_its_gateway(
    conn: asyncpg.Connection,
) -> None:
    _, _, payment = await paid_invoice(conn, "12.00", "testcard")
    with pytest.raises(DomainError) as refused:
        await refund(conn, payment, None, gateways={"testcard": DecliningRefunds()})
    assert codes(refused) == [("id", ErrorCode.PAYMENT_DECLINED)]
    assert refused.value.errors[0].message == "Refund window closed."
    # A merchant gateway not loaded here cannot give the money back: to credit instead.
    with pytest.raises(DomainError) as refused:
        await refund(conn, payment, None)
    assert codes(refused) == [("toCredit", ErrorCode.NOT_CONFIGURED)]
    done = await refund(conn, payment, None, gateways={"testcard": TestCardGateway()})
    assert done.refund.refund_kind is RefundKind.GATEWAY
    assert (done.refund.transaction_id or "").startswith("test_re_")
    assert done.invoice is not None and done.invoice.status is InvoiceStatus.REFUNDED


async def test_13_3_a_hundred_refunds_at_once_refund_at_most_the_payment(
    conn: asyncpg.Connection, settings: Settings
) -> None:
    client_id, invoice_id, payment = await paid_invoice(conn, "50.00", "testcard")
    gateway = TestCardGateway()
    # Real connections, each its own backend: the row lock is all that keeps them apart.
    many = await db.create_pool(settings.database_url, min_size=30, max_size=30)

    async def refund_one(n: int) -> bool:
        async with many.acquire() as own:
            try:
                await refund_transaction(
                    own,
                    payment.transaction.id,
                    # 0.50 to 1.49: they run out part-way through one of them.
                    amount=Decimal("0.50") + Decimal(n) / 100,
                    to_credit=n % 3 == 0,
                    gateways={"testcard": gateway},
                    staff_id=None,
                )
                return True
            except DomainError as error:
                assert [e.code for e in error.errors] == [ErrorCode.INVALID]
                return False

    try:
        started = time.perf_counter()
        accepted = await asyncio.gather(*(refund_one(n) for n in range(100)))
        elapsed = time.perf_counter() - started
    finally:
        await many.close()
    refunded = await conn.fetchval(
        "SELECT -sum(amount) FROM transactions WHERE refund_of = $1", payment.transaction.id
    )
    print(f"100 concurrent refunds: {sum(accepted)} accepted, {refunded} refunded, {elapsed:.2f}s")
    assert refunded <= Decimal("50.00")
    assert sum(accepted) == await conn.fetchval(
        "SELECT count(*) FROM transactions WHERE refund_of = $1", payment.transaction.id
    )
    assert sum(accepted) >= 33  # at most 1.49 each: at least 33 fit in 50.00
    invoice = await conn.fetchrow(
        "SELECT amount_paid, balance FROM invoices WHERE id = $1", invoice_id
    )
    credited = await balance_of(conn, client_id)
    assert invoice["amount_paid"] + refunded == Decimal("50.00")
    assert credited == await conn.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM credit_log WHERE client_id = $1", client_id
    )


async def credited_invoice(conn: asyncpg.Connection, credit: str) -> tuple[int, int]:
    """A new client with `credit`, and its invoice of 20.00 that took all of it (SPEC 3.5)."""
    client = await add_client(conn, email=f"pat{next(_emails)}@example.com")
    await add_credit(
        conn, client.id, amount=credit, description="Goodwill", staff_id=None, login_id=None
    )
    return client.id, await invoice_of(conn, client.id, "20.00")


async def test_3_5_staff_apply_credit_at_most_the_balance_and_the_credit(
    conn: asyncpg.Connection,
) -> None:
    client_id, invoice_id = await credited_invoice(conn, "8")
    await add_credit(
        conn, client_id, amount="30", description="Goodwill", staff_id=None, login_id=None
    )
    with pytest.raises(DomainError) as refused:
        await apply_credit(conn, invoice_id, amount="12.01", client_id=None, staff_id=None)
    assert codes(refused) == [("amount", ErrorCode.INVALID)]
    with pytest.raises(DomainError) as refused:
        await apply_credit(conn, invoice_id, amount="-1", client_id=None, staff_id=None)
    assert codes(refused)[0][0] == "amount"
    invoice = await apply_credit(conn, invoice_id, amount="12", client_id=None, staff_id=None)
    assert (invoice.status, invoice.credit, invoice.balance) == (
        InvoiceStatus.PAID,
        Decimal("20.00"),
        Decimal("0.00"),
    )
    assert await balance_of(conn, client_id) == Decimal("18.00")


async def test_13_3_cancelling_an_unpaid_invoice_returns_its_credit(
    conn: asyncpg.Connection,
) -> None:
    client_id, invoice_id = await credited_invoice(conn, "6")
    assert await balance_of(conn, client_id) == Decimal("0.00")
    invoice = await cancel_invoice(conn, invoice_id, staff_id=None)
    assert (invoice.status, invoice.credit) == (InvoiceStatus.CANCELLED, Decimal("0.00"))
    assert await balance_of(conn, client_id) == Decimal("6.00")
    entry = await conn.fetchrow(
        "SELECT description, amount FROM credit_log WHERE client_id = $1 ORDER BY id DESC",
        client_id,
    )
    assert tuple(entry) == (
        f"Credit Returned from Cancelled Invoice #{invoice.number}",
        Decimal("6.00"),
    )
    with pytest.raises(DomainError) as refused:
        await cancel_invoice(conn, invoice_id, staff_id=None)
    assert codes(refused) == [("id", ErrorCode.INVALID)]
    paid_part = await invoice_of(conn, client_id, "20.00")
    await pay(conn, paid_part, "1")
    with pytest.raises(DomainError) as refused:
        await cancel_invoice(conn, paid_part, staff_id=None)
    assert codes(refused) == [("id", ErrorCode.CONFLICT)]
