"""Catalogue-free orders: services, addons and domains start PENDING with their first invoice;
accepting the order activates them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from domain import audit
from domain.billing.currency import order_currency
from domain.billing.invoices import (
    NewItem,
    check_payment_method,
    insert_invoice,
    key_owner,
    period_description_sql,
)
from domain.billing.items import items_by_order
from domain.billing.models import BillingCycle, ItemKind, Order, OrderStatus
from domain.errors import DomainError, ErrorCode, NotFound
from domain.idempotency import idempotent
from domain.money import parse_amount
from domain.nested import by_id
from domain.validation import InputCheck

MAX_ORDER_ITEMS = 100


@dataclass(frozen=True)
class OrderLine:
    kind: ItemKind
    name: str
    amount: Decimal
    billing_cycle: BillingCycle


def _clean_lines(check: InputCheck, items: Sequence[Mapping[str, Any]]) -> list[OrderLine]:
    if not items:
        check.fail("items", ErrorCode.REQUIRED, "An order needs at least one item.")
    elif len(items) > MAX_ORDER_ITEMS:
        check.fail("items", ErrorCode.INVALID, f"At most {MAX_ORDER_ITEMS} items per order.")
    lines = []
    for index, item in enumerate(items[:MAX_ORDER_ITEMS]):
        name = check.required_text(f"items.{index}.name", item.get("name"), "Name")
        try:
            # A free item (0.00) is a normal thing to order; a negative one is not.
            amount = parse_amount(item.get("amount", ""), f"items.{index}.amount", allow_zero=True)
        except DomainError as error:
            check.errors.extend(error.errors)
            continue
        cycle = BillingCycle(item.get("billing_cycle") or BillingCycle.MONTHLY)
        lines.append(OrderLine(ItemKind(item["kind"]), name, amount, cycle))
    return lines


async def place_order(
    conn: asyncpg.Connection,
    client_id: int,
    *,
    items: Sequence[Mapping[str, Any]],
    payment_method: str | None,
    currency: str | None = None,
    staff_id: int | None,
    login_id: int | None = None,
    idempotency_key: str | None = None,
) -> Order:
    """Create the order's items PENDING and invoice their first period, due today.

    With an idempotency key (of `login_id`), a retry returns the first order unchanged."""
    async with conn.transaction():
        done = await idempotent(
            conn,
            login_id=key_owner(login_id, idempotency_key),
            key=idempotency_key,
            operation="placeOrder",
            arguments={
                "client_id": client_id,
                "items": [dict(item) for item in items],
                "payment_method": payment_method,
                "currency": currency,
            },
            perform=lambda: _place_order(
                conn,
                client_id,
                items=items,
                payment_method=payment_method,
                currency=currency,
                staff_id=staff_id,
            ),
        )
        order = await get_order(conn, done["order_id"])
        assert order is not None
        return order


async def _place_order(
    conn: asyncpg.Connection,
    client_id: int,
    *,
    items: Sequence[Mapping[str, Any]],
    payment_method: str | None,
    currency: str | None,
    staff_id: int | None,
) -> dict[str, Any]:
    check = InputCheck()
    lines = _clean_lines(check, items)
    async with conn.transaction():
        client = await conn.fetchrow(
            "SELECT currency, default_payment_method FROM clients WHERE id = $1 FOR UPDATE",
            client_id,
        )
        if client is None:
            raise NotFound("Client", "client_id")
        method = await check_payment_method(conn, check, payment_method, "payment_method")
        check.raise_if_failed()
        method = method or client["default_payment_method"]
        order_currency_code = await order_currency(conn, client_id, client["currency"], currency)
        today = date.today()
        order_id = await conn.fetchval(
            """INSERT INTO orders (client_id, currency, payment_method) VALUES ($1, $2, $3)
               RETURNING id""",
            client_id,
            order_currency_code,
            method,
        )
        invoice_lines = []
        for line in lines:
            row = await conn.fetchrow(
                f"""INSERT INTO {line.kind.table}
                        (client_id, order_id, name, amount, billing_cycle, payment_method,
                         next_due_date)
                    VALUES ($1, $2, $3, $4, $5, $6, ($7::date + billing_cycle_interval($5))::date)
                    RETURNING id, {period_description_sql("name", "$7::date", "billing_cycle")}
                              AS description""",
                client_id,
                order_id,
                line.name,
                line.amount,
                line.billing_cycle.value,
                method,
                today,
            )
            invoice_lines.append(
                NewItem(
                    row["description"],
                    line.amount,
                    item_kind=line.kind,
                    item_id=row["id"],
                    period_start=today,
                )
            )
        invoice_id = await insert_invoice(
            conn, client_id, due_date=today, payment_method=method, items=invoice_lines
        )
        await conn.execute("UPDATE orders SET invoice_id = $2 WHERE id = $1", order_id, invoice_id)
        await audit.record(
            conn,
            staff_id=staff_id,
            action="order.placed",
            client_id=client_id,
            changes={"order_id": order_id, "invoice_id": invoice_id},
        )
        return {"order_id": order_id}


async def accept_order(conn: asyncpg.Connection, order_id: int, *, staff_id: int | None) -> Order:
    """Activate the order's pending items; an order is accepted once."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT client_id, status FROM orders WHERE id = $1 FOR UPDATE", order_id
        )
        if row is None:
            raise NotFound("Order")
        if row["status"] != OrderStatus.PENDING:
            raise DomainError.single(ErrorCode.CONFLICT, "The order is already accepted.", "id")
        await conn.execute("UPDATE orders SET status = 'ACCEPTED' WHERE id = $1", order_id)
        for kind in ItemKind:
            await conn.execute(
                f"""UPDATE {kind.table} SET status = 'ACTIVE'
                     WHERE order_id = $1 AND status = 'PENDING'""",
                order_id,
            )
        await audit.record(
            conn,
            staff_id=staff_id,
            action="order.accepted",
            client_id=row["client_id"],
            changes={"order_id": order_id},
        )
        order = await get_order(conn, order_id)
        assert order is not None
        return order


async def get_order(conn: asyncpg.Connection, order_id: int) -> Order | None:
    return (await orders_by_ids(conn, [order_id])).get(order_id)


async def orders_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, Order]:
    """The orders of these ids with their items (a statement per item kind)."""
    rows = await conn.fetch(
        """SELECT id, client_id, currency, payment_method, status, created_at, invoice_id
             FROM orders WHERE id = ANY($1::bigint[])""",
        list(ids),
    )
    items = await items_by_order(conn, [row["id"] for row in rows]) if rows else {}
    return by_id(
        rows,
        lambda row: Order(
            **{**dict(row), "status": OrderStatus(row["status"]), "items": tuple(items[row["id"]])}
        ),
    )
