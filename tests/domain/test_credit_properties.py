"""SPEC 3.4–3.6 as properties: random sequences of credit additions, removals and deletions,
invoices (with automatic credit on or off) and payments (overpayments included) keep

- the client's balance equal to the sum of its credit log, and never below zero;
- every invoice's balance equal to total − credit − payments applied to it;

and agree step by step with a plain Python model of the rules. Also: credit applied to an
invoice is not deleted from the log (it is that invoice's payment).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain.auth.permissions import StaffRole
from domain.auth.staff import Staff, create_staff
from domain.billing.invoices import create_invoice
from domain.billing.models import InvoiceStatus
from domain.billing.payments import record_payment
from domain.credit import services as credit
from domain.errors import DomainError, ErrorCode
from domain.settings import update_general_settings
from tests.conftest import CLIENT_AREA_URL, add_client

CENT = Decimal("0.01")
cents = st.integers(min_value=1, max_value=40_000).map(lambda n: n * CENT)
# Smaller than most balances, so that removals succeed as often as they are refused.
small_cents = st.integers(min_value=1, max_value=8_000).map(lambda n: n * CENT)
OPERATIONS = st.one_of(
    st.tuples(st.just("add"), cents),
    st.tuples(st.just("remove"), small_cents),
    st.tuples(st.just("delete"), st.integers(min_value=0, max_value=30)),
    st.tuples(st.just("invoice"), st.lists(cents, min_size=1, max_size=3)),
    st.tuples(st.just("pay"), st.integers(min_value=0, max_value=30), cents),
    st.tuples(st.just("auto_credit"), st.booleans()),
)
_emails = itertools.count()


@dataclass
class ModelInvoice:
    total: Decimal
    credit: Decimal
    paid: Decimal = Decimal(0)
    received: Decimal = Decimal(0)  # every payment, overpayments included

    @property
    def balance(self) -> Decimal:
        return self.total - self.credit - self.paid


@dataclass
class Model:
    """The rules of SPEC 3, in Python: what the database must say after each step."""

    balance: Decimal = Decimal(0)
    auto_credit: bool = True
    invoices: dict[int, ModelInvoice] = field(default_factory=dict)


@pytest.fixture
async def staff(conn: asyncpg.Connection) -> Staff:
    return await create_staff(
        conn,
        email="billing@staff.example.com",
        password="staff-password-1",
        first_name="Bea",
        last_name="Biller",
        role=StaffRole.BILLING,
    )


async def new_client(conn: asyncpg.Connection) -> int:
    client = await add_client(conn, email=f"joe{next(_emails)}@example.com")
    return client.id


def refused_with(error: DomainError) -> ErrorCode:
    [problem] = error.errors
    return problem.code


async def step(
    conn: asyncpg.Connection, model: Model, client_id: int, staff: Staff, operation: tuple[Any, ...]
) -> None:
    """Carry out one operation in the database and in the model; they must agree on refusals."""
    kind, *args = operation
    expected_refusal: ErrorCode | None = None
    refusal: ErrorCode | None = None
    who = {"staff_id": staff.id, "login_id": staff.login_id}
    try:
        if kind == "add":
            await credit.add_credit(conn, client_id, amount=args[0], description="Add", **who)
            model.balance += args[0]
        elif kind == "remove":
            if args[0] > model.balance:
                expected_refusal = ErrorCode.INSUFFICIENT_CREDIT
            await credit.remove_credit(conn, client_id, amount=args[0], reason="Remove", **who)
            model.balance -= args[0]
        elif kind == "delete":
            rows = await conn.fetch(
                "SELECT id, amount, invoice_id FROM credit_log WHERE client_id = $1 ORDER BY id",
                client_id,
            )
            if not rows:
                return
            entry = rows[args[0] % len(rows)]
            if entry["amount"] < 0 and entry["invoice_id"] is not None:
                expected_refusal = ErrorCode.CONFLICT
            elif model.balance - entry["amount"] < 0:
                expected_refusal = ErrorCode.INSUFFICIENT_CREDIT
            await credit.delete_credit_entry(conn, entry["id"], staff_id=staff.id)
            model.balance -= entry["amount"]
        elif kind == "invoice":
            items = [{"description": "Hosting", "amount": a, "taxed": False} for a in args[0]]
            invoice = await create_invoice(
                conn, client_id, items=items, due_date=None, payment_method=None, staff_id=staff.id
            )
            total = sum(args[0], Decimal(0))
            used = min(model.balance, total) if model.auto_credit else Decimal(0)
            model.balance -= used
            event("invoice paid by credit" if used == total else "invoice partly credited")
            model.invoices[invoice.id] = ModelInvoice(total=total, credit=used)
        elif kind == "pay":
            if not model.invoices:
                return
            invoice_id = sorted(model.invoices)[args[0] % len(model.invoices)]
            owed = model.invoices[invoice_id]
            if owed.balance == 0:
                event("payment of a paid invoice")  # all of it becomes credit (SPEC 3.4)
            await record_payment(
                conn,
                invoice_id,
                amount=args[1],
                gateway="banktransfer",
                staff_id=staff.id,
                client_area_url=CLIENT_AREA_URL,
            )
            applied = min(args[1], owed.balance)
            owed.paid += applied
            owed.received += args[1]
            model.balance += args[1] - applied  # SPEC 3.4: the excess becomes credit
            if args[1] > applied:
                event("overpayment")
        elif kind == "auto_credit":
            await update_general_settings(conn, apply_credit_automatically=args[0])
            model.auto_credit = args[0]
    except DomainError as error:
        refusal = refused_with(error)
    # `--hypothesis-show-statistics` shows how often each rule was exercised.
    event(f"{kind} refused: {refusal}" if refusal else f"{kind} done")
    assert refusal == expected_refusal, operation


async def check_invariants(conn: asyncpg.Connection, model: Model, client_id: int) -> None:
    balance, ledger_sum = await conn.fetchrow(
        """SELECT c.credit_balance, coalesce(sum(l.amount), 0)
             FROM clients c LEFT JOIN credit_log l ON l.client_id = c.id
            WHERE c.id = $1 GROUP BY c.id""",
        client_id,
    )
    # SPEC 3.6: the balance is the sum of the log, never negative, and as the rules say.
    assert balance == ledger_sum == model.balance >= 0
    invoices = await conn.fetch(
        """SELECT i.id, i.status, i.total, i.credit, i.amount_paid, i.balance,
                  (SELECT coalesce(sum(amount), 0) FROM transactions t
                    WHERE t.invoice_id = i.id) AS received,
                  (SELECT coalesce(-sum(amount), 0) FROM credit_log l
                    WHERE l.invoice_id = i.id AND l.amount < 0) AS credit_logged
             FROM invoices i WHERE i.client_id = $1""",
        client_id,
    )
    assert {row["id"] for row in invoices} == set(model.invoices)
    for row in invoices:
        owed = model.invoices[row["id"]]
        # The invoice balance is total − credit − payments applied (SPEC 3.4, 3.5).
        assert row["balance"] == row["total"] - row["credit"] - row["amount_paid"]
        assert (row["total"], row["credit"], row["amount_paid"], row["balance"]) == (
            owed.total,
            owed.credit,
            owed.paid,
            owed.balance,
        )
        assert row["received"] == owed.received
        assert row["credit_logged"] == row["credit"]
        paid_up = InvoiceStatus.PAID if owed.balance == 0 else InvoiceStatus.UNPAID
        assert row["status"] == paid_up


def derandomised(max_examples: int) -> settings:
    """The settings of a property test on the database: `max_examples` examples, the same on
    every run (a red build is reproducible), nothing remembered between runs or written to
    the checkout, no deadline (the database's pace varies), one database for every example."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


@derandomised(max_examples=60)
@given(operations=st.lists(OPERATIONS, min_size=1, max_size=12))
async def test_3_6_credit_invoices_and_payments_keep_the_ledger_and_invoices_balanced(
    conn: asyncpg.Connection, staff: Staff, operations: list[tuple[Any, ...]]
) -> None:
    # Each example has a client of its own; the installation starts with credit applied.
    await update_general_settings(conn, apply_credit_automatically=True)
    client_id = await new_client(conn)
    model = Model()
    for operation in operations:
        await step(conn, model, client_id, staff, operation)
        await check_invariants(conn, model, client_id)


async def test_3_3_credit_applied_to_an_invoice_cannot_be_deleted(
    conn: asyncpg.Connection, staff: Staff
) -> None:
    client_id = await new_client(conn)
    await credit.add_credit(
        conn, client_id, amount="10", description="Add", staff_id=staff.id, login_id=staff.login_id
    )
    invoice = await create_invoice(
        conn,
        client_id,
        items=[{"description": "Hosting", "amount": "4", "taxed": False}],
        due_date=None,
        payment_method=None,
        staff_id=staff.id,
    )
    applied = await conn.fetchval("SELECT id FROM credit_log WHERE invoice_id = $1", invoice.id)
    with pytest.raises(DomainError) as refused:
        await credit.delete_credit_entry(conn, applied, staff_id=staff.id)
    assert [(e.field, e.code) for e in refused.value.errors] == [("id", ErrorCode.CONFLICT)]
    assert await conn.fetchval("SELECT credit_balance FROM clients WHERE id = $1", client_id) == (
        Decimal("6.00")
    )
