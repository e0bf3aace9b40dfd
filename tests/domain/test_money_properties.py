"""SPEC 3.6, 13.3 and 13.4 as properties: random sequences of orders (some asking for
another currency), payments (overpayments and payments of paid invoices included, by hand
and by card), refunds (part or all, by hand, through the gateway and to credit),
cancellations, credit applied by staff and credit added and removed, through the domain use
cases on the real database, keep

- each client's credit balance equal to the sum of its ledger, never below zero;
- each invoice's balance equal to total − credit − payments + refunds, where a payment counts
  what it paid on the invoice (not what became credit) and a refund what came back from it;
- each payment's refunds at most the payment, and out of its credit at most its credit;
- a cancelled invoice without credit or payments, a refunded one with nothing paid left;
- one currency per client: its orders, invoices, payments, refunds and credit are all in it.

Refusals are allowed, but only the refusals of the rules (bad amounts, too little credit,
an invoice that takes no payment, a currency in use), never a crash.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import asyncpg
from hypothesis import event, given
from hypothesis import strategies as st

from domain.billing import orders
from domain.billing.credit_use import apply_credit, cancel_invoice
from domain.billing.models import ItemKind
from domain.billing.payments import record_payment
from domain.billing.refunds import refund_transaction
from domain.billing.testcard import TestCardGateway
from domain.credit import services as credit
from domain.errors import DomainError, ErrorCode
from domain.settings import update_general_settings
from tests.conftest import CLIENT_AREA_URL, add_client
from tests.domain.test_credit_properties import derandomised

CENT = Decimal("0.01")
cents = st.integers(min_value=1, max_value=5_000).map(lambda n: n * CENT)
# Refunds and applied credit: None is all there is (the whole refund, all the credit).
small_cents = st.integers(min_value=1, max_value=2_000).map(lambda n: n * CENT)
index = st.integers(min_value=0, max_value=20)
ORDER = st.tuples(
    st.just("order"),
    st.lists(cents, min_size=1, max_size=2),
    st.sampled_from([None, None, "EUR"]),
)
PAY = st.tuples(st.just("pay"), index, cents, st.sampled_from(["banktransfer", "testcard"]))
REFUND = st.tuples(st.just("refund"), index, st.none() | small_cents, st.booleans())
APPLY = st.tuples(st.just("apply"), index, st.none() | small_cents)
# Payments, refunds and applied credit twice as often as the rest: they have the most rules.
OPERATIONS = st.one_of(
    ORDER,
    PAY,
    PAY,
    REFUND,
    REFUND,
    st.tuples(st.just("cancel"), index),
    APPLY,
    APPLY,
    st.tuples(st.just("add"), cents),
    st.tuples(st.just("remove"), cents),
)
# The refusals the rules make; anything else fails the example.
RULE_REFUSALS = {
    ErrorCode.INVALID,
    ErrorCode.INSUFFICIENT_CREDIT,
    ErrorCode.CONFLICT,
    ErrorCode.CURRENCY_IN_USE,
}
_emails = itertools.count()
_references = itertools.count()


async def pick(conn: asyncpg.Connection, sql: str, client_id: int, n: int) -> int | None:
    ids = [row[0] for row in await conn.fetch(sql, client_id)]
    return ids[n % len(ids)] if ids else None


async def step(
    conn: asyncpg.Connection, client_id: int, gateway: TestCardGateway, operation: tuple[Any, ...]
) -> None:
    kind, *args = operation
    invoice_sql = "SELECT id FROM invoices WHERE client_id = $1 ORDER BY id"
    payment_sql = (
        "SELECT id FROM transactions WHERE client_id = $1 AND refund_of IS NULL ORDER BY id"
    )
    try:
        if kind == "order":
            items = [{"kind": ItemKind.SERVICE, "name": "Hosting", "amount": a} for a in args[0]]
            await orders.place_order(
                conn,
                client_id,
                items=items,
                payment_method="banktransfer",
                currency=args[1],
                staff_id=None,
            )
        elif kind == "add":
            await credit.add_credit(
                conn, client_id, amount=args[0], description="Add", staff_id=None, login_id=None
            )
        elif kind == "remove":
            await credit.remove_credit(
                conn, client_id, amount=args[0], reason="Remove", staff_id=None, login_id=None
            )
        elif (invoice_id := await pick(conn, invoice_sql, client_id, args[0])) is None:
            event(f"{kind}: no invoice yet")
            return
        elif kind == "pay":
            reference = f"ch_{next(_references)}" if args[2] == "testcard" else None
            await record_payment(
                conn,
                invoice_id,
                amount=args[1],
                gateway=args[2],
                transaction_id=reference,
                staff_id=None,
                client_area_url=CLIENT_AREA_URL,
            )
        elif kind == "cancel":
            await cancel_invoice(conn, invoice_id, staff_id=None)
        elif kind == "apply":
            await apply_credit(conn, invoice_id, amount=args[1], client_id=None, staff_id=None)
        elif kind == "refund":
            payment_id = await pick(conn, payment_sql, client_id, args[0])
            if payment_id is None:
                event("refund: no payment yet")
                return
            await refund_transaction(
                conn,
                payment_id,
                amount=args[1],
                to_credit=args[2],
                gateways={"testcard": gateway},
                staff_id=None,
            )
    except DomainError as error:
        codes = {problem.code for problem in error.errors}
        assert codes <= RULE_REFUSALS, (operation, error.errors)
        event(f"{kind} refused: {'+'.join(sorted(codes))}")
        return
    event(f"{kind} done")


async def check_invariants(conn: asyncpg.Connection, client_id: int) -> None:
    balance, ledger_sum, currency = await conn.fetchrow(
        """SELECT c.credit_balance, coalesce(sum(l.amount), 0), c.currency
             FROM clients c LEFT JOIN credit_log l ON l.client_id = c.id
            WHERE c.id = $1 GROUP BY c.id""",
        client_id,
    )
    assert balance == ledger_sum >= 0  # SPEC 3.6
    invoices = await conn.fetch(
        """SELECT i.*,
                  (SELECT coalesce(sum(CASE WHEN t.refund_of IS NULL
                                            THEN t.amount - t.credited
                                            ELSE t.amount + t.credited END), 0)
                     FROM transactions t WHERE t.invoice_id = i.id) AS paid_net
             FROM invoices i WHERE i.client_id = $1""",
        client_id,
    )
    for row in invoices:
        # Payments count what they paid on it; refunds (negative) what came back from it.
        assert row["balance"] == row["total"] - row["credit"] - row["paid_net"], dict(row)
        assert row["amount_paid"] == row["paid_net"] >= 0
        assert row["balance"] >= 0
        if row["status"] == "CANCELLED":
            assert row["credit"] == row["amount_paid"] == 0
        if row["status"] == "REFUNDED":
            assert row["amount_paid"] == 0
        if row["status"] == "UNPAID":
            assert row["balance"] > 0
    over = await conn.fetch(
        """SELECT p.id FROM transactions p JOIN transactions r ON r.refund_of = p.id
            WHERE p.client_id = $1 GROUP BY p.id, p.amount, p.credited
           HAVING -sum(r.amount) > p.amount OR sum(r.credited) > p.credited""",
        client_id,
    )
    assert over == []  # SPEC 13.3: never more back than was paid
    # SPEC 13.4: one currency, the client's, for everything of it.
    used = await conn.fetchval(
        """SELECT array_agg(DISTINCT currency) FROM (
               SELECT currency FROM orders WHERE client_id = $1
               UNION ALL SELECT currency FROM invoices WHERE client_id = $1
               UNION ALL SELECT currency FROM transactions WHERE client_id = $1) AS money""",
        client_id,
    )
    assert used is None or used == [currency]


@derandomised(max_examples=60)
# Each sequence starts with an order, so that payments and refunds have something to act on.
@given(first=ORDER, operations=st.lists(OPERATIONS, min_size=8, max_size=20))
async def test_13_3_payments_refunds_cancellations_and_credit_keep_money_balanced(
    conn: asyncpg.Connection, first: tuple[Any, ...], operations: list[tuple[Any, ...]]
) -> None:
    # Each example has a client of its own; credit is applied to new invoices (SPEC 3.5).
    await update_general_settings(conn, apply_credit_automatically=True)
    client = await add_client(conn, email=f"pat{next(_emails)}@example.com")
    gateway = TestCardGateway()
    for operation in [first, *operations]:
        await step(conn, client.id, gateway, operation)
        await check_invariants(conn, client.id)
