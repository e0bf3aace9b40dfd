"""Orders: services, addons and domains start PENDING with their first invoice; accepting the
order activates them. An item is free-form (staff name it and its price) or names a catalogue
product, priced in the order's currency (SPEC 1.6, 14.1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
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
from domain.catalogue.emails import queue_item_emails, queue_order_confirmation
from domain.catalogue.pricing import OrderLine, addon_service, catalogue_lines
from domain.errors import DomainError, ErrorCode, NotFound
from domain.idempotency import idempotent
from domain.money import parse_amount
from domain.nested import by_id
from domain.validation import InputCheck

MAX_ORDER_ITEMS = 100


Item = Mapping[str, Any]


def _check_count(check: InputCheck, items: Sequence[Item]) -> None:
    if not items:
        check.fail("items", ErrorCode.REQUIRED, "An order needs at least one item.")
    elif len(items) > MAX_ORDER_ITEMS:
        check.fail("items", ErrorCode.INVALID, f"At most {MAX_ORDER_ITEMS} items per order.")


def _free_form_lines(
    check: InputCheck, items: Sequence[tuple[int, Item]], services: Mapping[int, int | None]
) -> list[OrderLine]:
    """The lines staff name and price themselves (an addon of a service of the client's
    `services`, or of none)."""
    lines = []
    for index, item in items:
        name = check.required_text(f"items.{index}.name", item.get("name"), "Name")
        try:
            # A free item (0.00) is a normal thing to order; a negative one is not.
            amount = parse_amount(item.get("amount", ""), f"items.{index}.amount", allow_zero=True)
        except DomainError as error:
            check.errors.extend(error.errors)
            continue
        cycle = BillingCycle(item.get("billing_cycle") or BillingCycle.MONTHLY)
        kind = ItemKind(item["kind"])
        service_id = addon_service(check, index, item, services) if kind is ItemKind.ADDON else None
        lines.append(OrderLine(kind, name, amount, cycle, amount, service_id=service_id))
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
    include_hidden: bool = True,
    operation: str = "placeOrder",
    confirmation_url: str | None = None,
) -> Order:
    """Create the order's items PENDING and invoice their first period, due today. Items
    with a `product_id` are priced from the catalogue (hidden products only when
    `include_hidden`: staff may sell them, clients may not see them).

    With `confirmation_url` (the client area it links to), the Order Confirmation email is
    queued: a client's own order always has it; a staff order none, as staff tell the client
    themselves. With an idempotency key (of `login_id`), a retry of `operation` returns the
    first order unchanged."""
    async with conn.transaction():
        done = await idempotent(
            conn,
            login_id=key_owner(login_id, idempotency_key),
            key=idempotency_key,
            operation=operation,
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
                include_hidden=include_hidden,
                confirmation_url=confirmation_url,
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
    include_hidden: bool,
    confirmation_url: str | None,
) -> dict[str, Any]:
    check = InputCheck()
    _check_count(check, items)
    numbered = list(enumerate(items[:MAX_ORDER_ITEMS]))
    async with conn.transaction():
        client = await conn.fetchrow(
            "SELECT currency, default_payment_method FROM clients WHERE id = $1 FOR UPDATE",
            client_id,
        )
        if client is None:
            raise NotFound("Client", "client_id")
        services = await _services_of(conn, client_id, numbered)
        lines = _free_form_lines(
            check, [(i, item) for i, item in numbered if not item.get("product_id")], services
        )
        method = await check_payment_method(conn, check, payment_method, "payment_method")
        order_currency_code = await order_currency(conn, client_id, client["currency"], currency)
        lines += await catalogue_lines(
            conn,
            check,
            [(i, item) for i, item in numbered if item.get("product_id")],
            currency=order_currency_code,
            include_hidden=include_hidden,
            services=services,
        )
        check.raise_if_failed()
        method = method or client["default_payment_method"]
        order_id, invoice_id = await insert_order(
            conn, client_id, lines, currency=order_currency_code, payment_method=method
        )
        if confirmation_url is not None:
            await queue_order_confirmation(conn, order_id, client_area_url=confirmation_url)
        await audit.record(
            conn,
            staff_id=staff_id,
            action="order.placed",
            client_id=client_id,
            changes={"order_id": order_id, "invoice_id": invoice_id},
        )
        return {"order_id": order_id}


async def insert_order(
    conn: asyncpg.Connection,
    client_id: int,
    lines: Sequence[OrderLine | NewItem],
    *,
    currency: str,
    payment_method: str | None,
) -> tuple[int, int]:
    """An order of the client's in `currency`: each OrderLine's item PENDING, and the
    order's invoice, due today, of each item's first period (and its setup fee) and of each
    NewItem as it is, in the order given. The order's id and its invoice's."""
    today = date.today()
    order_id = await conn.fetchval(
        """INSERT INTO orders (client_id, currency, payment_method) VALUES ($1, $2, $3)
           RETURNING id""",
        client_id,
        currency,
        payment_method,
    )
    invoice_lines = []
    for line in lines:
        if isinstance(line, NewItem):
            invoice_lines.append(line)
            continue
        # Only addons are of a service.
        of_service = line.kind is ItemKind.ADDON
        row = await conn.fetchrow(
            f"""INSERT INTO {line.kind.table}
                    (client_id, order_id, name, amount, billing_cycle, payment_method,
                     next_due_date, product_id{", service_id" if of_service else ""})
                VALUES ($1, $2, $3, $4, $5, $6, ($7::date + billing_cycle_interval($5))::date,
                        $8{", $9" if of_service else ""})
                RETURNING id, {period_description_sql("name", "$7::date", "billing_cycle")}
                          AS description""",
            client_id,
            order_id,
            line.name,
            line.amount,
            line.billing_cycle.value,
            payment_method,
            today,
            line.product_id,
            *([line.service_id] if of_service else []),
        )
        invoice_lines.append(
            NewItem(
                row["description"],
                line.first_amount,
                item_kind=line.kind,
                item_id=row["id"],
                period_start=today,
            )
        )
        if line.setup_fee:
            invoice_lines.append(NewItem(f"Setup fee: {line.name}", line.setup_fee))
    invoice_id = await insert_invoice(
        conn, client_id, due_date=today, payment_method=payment_method, items=invoice_lines
    )
    await conn.execute("UPDATE orders SET invoice_id = $2 WHERE id = $1", order_id, invoice_id)
    return order_id, invoice_id


async def _services_of(
    conn: asyncpg.Connection, client_id: int, items: Sequence[tuple[int, Item]]
) -> dict[int, int | None]:
    """The client's services that the items name (addons are of them), with their products."""
    wanted = [item["service_id"] for _, item in items if item.get("service_id") is not None]
    if not wanted:
        return {}
    rows = await conn.fetch(
        "SELECT id, product_id FROM services WHERE id = ANY($1::bigint[]) AND client_id = $2",
        wanted,
        client_id,
    )
    return {row["id"]: row["product_id"] for row in rows}


async def accept_order(
    conn: asyncpg.Connection, order_id: int, *, staff_id: int | None, client_area_url: str
) -> Order:
    """Activate the order's pending items, with the welcome of each service and addon and
    the registration confirmation of each domain; an order is accepted once."""
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
            activated = await conn.fetchval(
                f"""WITH a AS (UPDATE {kind.table} SET status = 'ACTIVE'
                                WHERE order_id = $1 AND status = 'PENDING' RETURNING id)
                    SELECT coalesce(array_agg(id), '{{}}') FROM a""",
                order_id,
            )
            template = (
                "domain_registration_confirmation" if kind is ItemKind.DOMAIN else "service_welcome"
            )
            await queue_item_emails(
                conn, template, kind, activated, client_area_url=client_area_url
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
