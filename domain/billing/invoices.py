"""Invoices: made from an order, by staff, or by the generation run; their totals, tax and the
credit applied to them (SPEC 2.5, 3.5), and reading them back.

Every way of making invoices goes through the same set-based steps (`settle_new_invoices`,
or `settle_priced_invoices` after pricing them as they are written, with `tax_sql`), so that
one invoice and a hundred thousand are priced by the same SQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import asyncpg

from domain import audit
from domain.affiliates.commissions import earn_commissions
from domain.billing.models import BilledTo, Invoice, InvoiceItem, InvoiceStatus, ItemKind
from domain.errors import DomainError, ErrorCode, NotFound
from domain.idempotency import idempotent
from domain.money import check_storable, parse_amount
from domain.nested import by_id, first_of_each, grouped
from domain.settings import get_general_settings
from domain.validation import InputCheck


def _address_json(alias: str) -> str:
    return f"""jsonb_build_object(
        'name', {alias}.first_name || ' ' || {alias}.last_name,
        'company_name', {alias}.company_name, 'address1', {alias}.address1,
        'address2', {alias}.address2, 'city', {alias}.city, 'state', {alias}.state,
        'postcode', {alias}.postcode, 'country', {alias}.country)"""


# The SQL below reads a client as `c` joined to its default billing contact as `bc`.
BILLING_JOIN = "LEFT JOIN contacts bc ON bc.id = c.billing_contact_id"
# Invoices are addressed to the default billing contact when one is set (SPEC 2.5).
BILLED_TO_SQL = f"CASE WHEN bc.id IS NULL THEN {_address_json('c')} ELSE {_address_json('bc')} END"
# The tax rule of the client's state, else of its country; none for tax-exempt clients (1.5).
TAX_RATE_SQL = """CASE WHEN c.tax_exempt THEN 0 ELSE coalesce(
        (SELECT t.rate FROM tax_rules t
          WHERE t.country = c.country AND t.state IN ('', upper(btrim(coalesce(c.state, ''))))
          ORDER BY t.state DESC LIMIT 1), 0) END"""


def period_description_sql(name: str, start: str, cycle: str) -> str:
    """SQL for an item's invoice line: its name and the period billed ("Hosting (2026-01-01 -
    2026-01-31)"); one-time items show the name alone."""
    return f"""{name} || coalesce(' (' || {start} || ' - '
        || (({start} + billing_cycle_interval({cycle}))::date - 1) || ')', '')"""


INVOICE_COLUMNS = """id, client_id, number, status, issue_date, due_date, payment_method,
    currency, billed_to, subtotal, tax_rate, tax, total, credit, amount_paid, balance, paid_at,
    created_at"""


def invoice_from_row(row: asyncpg.Record) -> Invoice:
    values = dict(row)
    return Invoice(
        **{
            **values,
            "status": InvoiceStatus(values["status"]),
            "billed_to": BilledTo.from_json(values["billed_to"]),
        }
    )


def tax_sql(taxed_amount: str, rate: str) -> str:
    """SQL for the tax of an invoice: its taxed lines' sum at its rate, rounded to cents."""
    return f"round({taxed_amount} * {rate} / 100, 2)"


async def settle_new_invoices(
    conn: asyncpg.Connection, invoice_ids: Sequence[int], *, apply_credit: bool
) -> None:
    """Price new invoices from their items and tax rate, apply the clients' credit to them
    when `apply_credit` (SPEC 3.5), and mark those with nothing left to pay PAID (earning
    their affiliates' commissions, SPEC 14.3)."""
    ids = list(invoice_ids)
    await conn.execute(
        f"""UPDATE invoices i SET subtotal = s.subtotal, tax = {tax_sql("s.taxed", "i.tax_rate")}
              FROM (SELECT invoice_id, sum(amount) AS subtotal,
                           coalesce(sum(amount) FILTER (WHERE taxed), 0) AS taxed
                      FROM invoice_items WHERE invoice_id = ANY($1::bigint[])
                     GROUP BY invoice_id) s
             WHERE i.id = s.invoice_id""",
        ids,
    )
    await settle_priced_invoices(conn, ids, apply_credit=apply_credit)


async def settle_priced_invoices(
    conn: asyncpg.Connection, invoice_ids: Sequence[int], *, apply_credit: bool
) -> None:
    """`settle_new_invoices` for invoices written with their subtotal and tax already (the
    generation run prices its invoices in the insert rather than writing each row twice)."""
    ids = list(invoice_ids)
    if apply_credit:
        await _apply_credit(conn, ids)
    await conn.execute(
        """UPDATE invoices SET status = 'PAID', paid_at = now()
            WHERE id = ANY($1::bigint[]) AND status = 'UNPAID' AND balance = 0""",
        ids,
    )
    await earn_commissions(conn, ids)


async def _apply_credit(conn: asyncpg.Connection, invoice_ids: list[int]) -> None:
    """Spend each client's credit on its new invoices, oldest first, in two statements.

    The clients' rows are locked first (as every credit change does), so the second
    statement reads balances no one else can change before this transaction ends; the ledger
    rows and the balance change by the same amounts, keeping balance = sum(log) (SPEC 3.6)."""
    await conn.execute(
        """SELECT 1 FROM clients
            WHERE id IN (SELECT client_id FROM invoices WHERE id = ANY($1::bigint[]))
              AND credit_balance > 0
            ORDER BY id FOR UPDATE""",
        invoice_ids,
    )
    await conn.execute(
        """WITH owed AS (
               SELECT i.id, i.client_id, i.number, i.balance, c.credit_balance,
                      sum(i.balance) OVER (PARTITION BY i.client_id ORDER BY i.id)
                          - i.balance AS owed_before
                 FROM invoices i JOIN clients c ON c.id = i.client_id
                WHERE i.id = ANY($1::bigint[]) AND c.credit_balance > 0
                  AND i.status = 'UNPAID' AND i.balance > 0
           ), used AS (
               SELECT id, client_id, number, least(balance, credit_balance - owed_before) AS amount
                 FROM owed WHERE credit_balance > owed_before
           ), invoices_credited AS (
               UPDATE invoices i SET credit = i.credit + u.amount FROM used u WHERE i.id = u.id
           ), logged AS (
               INSERT INTO credit_log (client_id, description, amount, invoice_id)
               SELECT client_id, 'Credit Applied to Invoice #' || number, -amount, id FROM used
           )
           UPDATE clients c SET credit_balance = c.credit_balance - t.amount
             FROM (SELECT client_id, sum(amount) AS amount FROM used GROUP BY client_id) t
            WHERE c.id = t.client_id""",
        invoice_ids,
    )


async def cover(
    conn: asyncpg.Connection, invoice_id: int, amount: Decimal, *, by: Literal["credit", "paid"]
) -> None:
    """Take `amount` off a locked invoice's balance, as credit applied or as paid; PAID once
    nothing is left to pay, which earns a referred client's affiliate its commission."""
    column = "credit" if by == "credit" else "amount_paid"
    await conn.execute(
        f"""UPDATE invoices SET {column} = {column} + $2,
                   status = CASE WHEN balance = $2 THEN 'PAID' ELSE status END,
                   paid_at = CASE WHEN balance = $2 THEN now() ELSE paid_at END
             WHERE id = $1""",
        invoice_id,
        amount,
    )
    # Paid in full now or not: only PAID invoices earn their affiliate's commission.
    await earn_commissions(conn, [invoice_id])


@dataclass(frozen=True)
class NewItem:
    """A line of a new invoice; `item` names the billed service, addon or domain if any."""

    description: str
    amount: Decimal
    taxed: bool = True
    item_kind: ItemKind | None = None
    item_id: int | None = None
    period_start: date | None = None


async def insert_invoice(
    conn: asyncpg.Connection,
    client_id: int,
    *,
    due_date: date,
    payment_method: str | None,
    items: Sequence[NewItem],
) -> int:
    """Write one invoice with its items, priced, with credit applied per the setting.

    Refused (INVALID on "items") when its total would be more than an invoice can hold,
    before anything is written: a refused invoice takes no invoice number."""
    subtotal = sum((i.amount for i in items), Decimal(0))
    taxed = sum((i.amount for i in items if i.taxed), Decimal(0))
    # The total as `settle_new_invoices` will price it, by the same SQL, with the rate stored.
    priced = await conn.fetchrow(
        f"""SELECT t.rate, $2::numeric + {tax_sql("$3::numeric", "t.rate")} AS total
              FROM clients c CROSS JOIN LATERAL (SELECT {TAX_RATE_SQL} AS rate) t
             WHERE c.id = $1""",
        client_id,
        subtotal,
        taxed,
    )
    if priced is None:
        raise NotFound("Client", "client_id")
    check_storable(priced["total"], "items", "The invoice total")
    invoice_id: int = await conn.fetchval(
        f"""INSERT INTO invoices
                (client_id, due_date, payment_method, currency, billed_to, tax_rate)
            SELECT c.id, $2, $3, c.currency, {BILLED_TO_SQL}, $4
              FROM clients c {BILLING_JOIN} WHERE c.id = $1
            RETURNING id""",
        client_id,
        due_date,
        payment_method,
        priced["rate"],
    )
    await conn.execute(
        """INSERT INTO invoice_items
               (invoice_id, description, amount, taxed, item_kind, item_id, period_start)
           SELECT $1, * FROM unnest($2::text[], $3::numeric[], $4::boolean[], $5::text[],
                                    $6::bigint[], $7::date[])""",
        invoice_id,
        [i.description for i in items],
        [i.amount for i in items],
        [i.taxed for i in items],
        [i.item_kind.value if i.item_kind else None for i in items],
        [i.item_id for i in items],
        [i.period_start for i in items],
    )
    settings = await get_general_settings(conn)
    await settle_new_invoices(conn, [invoice_id], apply_credit=settings.apply_credit_automatically)
    return invoice_id


async def check_payment_method(
    conn: asyncpg.Connection, check: InputCheck, value: str | None, field: str
) -> str | None:
    method = (value or "").strip() or None
    if method is not None and not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM payment_gateways WHERE name = $1 AND enabled)", method
    ):
        check.fail(field, ErrorCode.INVALID, f"'{method}' is not an enabled payment gateway.")
    return method


MAX_INVOICE_ITEMS = 200


async def create_invoice(
    conn: asyncpg.Connection,
    client_id: int,
    *,
    items: Sequence[Mapping[str, Any]],
    due_date: date | None,
    payment_method: str | None,
    staff_id: int | None,
    login_id: int | None = None,
    idempotency_key: str | None = None,
) -> Invoice:
    """A staff-made invoice with free-form lines and any due date (SPEC 3.5 applies).

    With an idempotency key (of `login_id`), a retry returns the first invoice unchanged."""
    async with conn.transaction():
        done = await idempotent(
            conn,
            login_id=key_owner(login_id, idempotency_key),
            key=idempotency_key,
            operation="createInvoice",
            arguments={
                "client_id": client_id,
                "items": [dict(item) for item in items],
                "due_date": due_date.isoformat() if due_date else None,
                "payment_method": payment_method,
            },
            perform=lambda: _create_invoice(
                conn,
                client_id,
                items=items,
                due_date=due_date,
                payment_method=payment_method,
                staff_id=staff_id,
            ),
        )
        invoice = await get_invoice(conn, done["invoice_id"])
        assert invoice is not None
        return invoice


def key_owner(login_id: int | None, idempotency_key: str | None) -> int:
    """The login an idempotency key belongs to; a key without one is a programming error."""
    if idempotency_key is not None and login_id is None:
        raise ValueError("an idempotency key belongs to a login")
    return login_id or 0


async def _create_invoice(
    conn: asyncpg.Connection,
    client_id: int,
    *,
    items: Sequence[Mapping[str, Any]],
    due_date: date | None,
    payment_method: str | None,
    staff_id: int | None,
) -> dict[str, Any]:
    check = InputCheck()
    lines: list[NewItem] = []
    if not items:
        check.fail("items", ErrorCode.REQUIRED, "An invoice needs at least one item.")
    elif len(items) > MAX_INVOICE_ITEMS:
        check.fail("items", ErrorCode.INVALID, f"At most {MAX_INVOICE_ITEMS} items.")
    for index, item in enumerate(items[:MAX_INVOICE_ITEMS]):
        description = check.required_text(
            f"items.{index}.description", item.get("description"), "Description"
        )
        try:
            amount = parse_amount(item.get("amount", ""), f"items.{index}.amount")
        except DomainError as error:
            check.errors.extend(error.errors)
            continue
        lines.append(NewItem(description, amount, taxed=bool(item.get("taxed", True))))
    async with conn.transaction():
        client = await conn.fetchrow(
            "SELECT default_payment_method FROM clients WHERE id = $1 FOR UPDATE", client_id
        )
        if client is None:
            raise NotFound("Client", "client_id")
        method = await check_payment_method(conn, check, payment_method, "payment_method")
        check.raise_if_failed()
        invoice_id = await insert_invoice(
            conn,
            client_id,
            due_date=due_date or date.today(),
            payment_method=method or client["default_payment_method"],
            items=lines,
        )
        await audit.record(
            conn,
            staff_id=staff_id,
            action="invoice.created",
            client_id=client_id,
            changes={"invoice_id": invoice_id},
        )
        return {"invoice_id": invoice_id}


async def get_invoice(conn: asyncpg.Connection, invoice_id: int) -> Invoice | None:
    return (await invoices_by_ids(conn, [invoice_id])).get(invoice_id)


async def invoices_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, Invoice]:
    rows = await conn.fetch(
        f"SELECT {INVOICE_COLUMNS} FROM invoices WHERE id = ANY($1::bigint[])", list(ids)
    )
    return by_id(rows, invoice_from_row)


async def invoices_by_client(
    conn: asyncpg.Connection, client_ids: Sequence[int], *, per_client: int | None = None
) -> dict[int, list[Invoice]]:
    """Each client's invoices, newest first; at most `per_client` each."""
    rows = await conn.fetch(
        first_of_each(
            f"""SELECT {INVOICE_COLUMNS} FROM invoices WHERE client_id = {{parent}}
                 ORDER BY id DESC"""
        ),
        list(client_ids),
        per_client,
    )
    return grouped(rows, client_ids, invoice_from_row)


async def items_by_invoice(
    conn: asyncpg.Connection, invoice_ids: Sequence[int]
) -> dict[int, list[InvoiceItem]]:
    rows = await conn.fetch(
        """SELECT id, invoice_id, item_kind, item_id, description, amount, taxed
             FROM invoice_items WHERE invoice_id = ANY($1::bigint[]) ORDER BY invoice_id, id""",
        list(invoice_ids),
    )
    found: dict[int, list[InvoiceItem]] = {iid: [] for iid in invoice_ids}
    for row in rows:
        values = dict(row)
        kind = values.pop("item_kind")
        found[row["invoice_id"]].append(
            InvoiceItem(**values, item_kind=ItemKind(kind) if kind else None)
        )
    return found
