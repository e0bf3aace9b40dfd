"""Quotes (SPEC 14.4): staff save and send them; the client accepts a sent one until its
valid-until date, which makes its invoice in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from domain import audit
from domain.billing.invoices import NewItem, insert_invoice
from domain.billing.models import BillingCycle, ItemKind
from domain.billing.orders import insert_order
from domain.catalogue.pricing import OrderLine
from domain.catalogue.products import products_by_ids
from domain.emails.outbox import queue_client_email
from domain.errors import DomainError, ErrorCode, NotFound
from domain.money import check_storable, format_amount, parse_amount
from domain.nested import first_of_each
from domain.quotes.models import Quote, QuoteLine, QuoteStatus
from domain.validation import InputCheck

MAX_QUOTE_LINES = 100
QUOTE_COLUMNS = """id, client_id, status, valid_until, currency, subtotal, invoice_id, created_at,
    sent_at, accepted_at"""


async def save_quote(
    conn: asyncpg.Connection,
    client_id: int,
    *,
    quote_id: int | None,
    lines: Sequence[Mapping[str, Any]],
    valid_until: date | None,
    staff_id: int | None,
) -> Quote:
    """Write a new quote of the client (DRAFT), or rewrite one of its quotes not accepted
    yet (`quote_id`): its lines replaced, its status kept."""
    check = InputCheck()
    cleaned = _lines(check, lines)
    if valid_until is None:
        check.fail("valid_until", ErrorCode.REQUIRED, "A quote needs a valid-until date.")
    elif valid_until < date.today():
        check.fail("valid_until", ErrorCode.INVALID, "The valid-until date has passed.")
    async with conn.transaction():
        currency = await conn.fetchval(
            "SELECT currency FROM clients WHERE id = $1 FOR UPDATE", client_id
        )
        if currency is None:
            raise NotFound("Client", "client_id")
        if quote_id is not None:
            status = await conn.fetchval(
                "SELECT status FROM quotes WHERE id = $1 AND client_id = $2 FOR UPDATE",
                quote_id,
                client_id,
            )
            if status is None:
                raise NotFound("Quote", "input.id")
            if status == QuoteStatus.ACCEPTED:
                check.fail("input.id", ErrorCode.ALREADY_ACCEPTED, "This quote is accepted.")
        await _check_products(conn, check, cleaned)
        check.raise_if_failed()
        subtotal = sum((line.amount for line in cleaned), Decimal(0))
        check_storable(subtotal, "lines", "The quote's total")
        if quote_id is None:
            quote_id = await conn.fetchval(
                """INSERT INTO quotes (client_id, valid_until, currency, subtotal)
                   VALUES ($1, $2, $3, $4) RETURNING id""",
                client_id,
                valid_until,
                currency,
                subtotal,
            )
        else:
            await conn.execute(
                "UPDATE quotes SET valid_until = $2, currency = $3, subtotal = $4 WHERE id = $1",
                quote_id,
                valid_until,
                currency,
                subtotal,
            )
            await conn.execute("DELETE FROM quote_lines WHERE quote_id = $1", quote_id)
        await conn.execute(
            """INSERT INTO quote_lines (quote_id, description, amount, product_id, billing_cycle)
               SELECT $1, * FROM unnest($2::text[], $3::numeric[], $4::bigint[], $5::text[])""",
            quote_id,
            [line.description for line in cleaned],
            [line.amount for line in cleaned],
            [line.product_id for line in cleaned],
            [line.billing_cycle and line.billing_cycle.value for line in cleaned],
        )
        await audit.record(
            conn,
            staff_id=staff_id,
            action="quote.saved",
            client_id=client_id,
            changes={"quote_id": quote_id, "subtotal": str(subtotal), "currency": currency},
        )
        return await _get(conn, quote_id)


def _lines(check: InputCheck, lines: Sequence[Mapping[str, Any]]) -> list[QuoteLine]:
    if not lines:
        check.fail("lines", ErrorCode.REQUIRED, "A quote needs at least one line.")
    elif len(lines) > MAX_QUOTE_LINES:
        check.fail("lines", ErrorCode.INVALID, f"At most {MAX_QUOTE_LINES} lines.")
    cleaned = []
    for index, line in enumerate(lines[:MAX_QUOTE_LINES]):
        description = check.required_text(
            f"lines.{index}.description", line.get("description"), "Description"
        )
        try:
            amount = parse_amount(line.get("amount", ""), f"lines.{index}.amount", allow_zero=True)
        except DomainError as error:
            check.errors.extend(error.errors)
            continue
        product_id, cycle = line.get("product_id"), line.get("billing_cycle")
        if product_id is None and cycle is not None:
            check.fail(
                f"lines.{index}.billing_cycle",
                ErrorCode.INVALID,
                "Only a line naming a product is billed per cycle.",
            )
        elif product_id is not None:
            cycle = BillingCycle(cycle or BillingCycle.MONTHLY)
        cleaned.append(QuoteLine(description, amount, product_id, cycle))
    return cleaned


async def _check_products(
    conn: asyncpg.Connection, check: InputCheck, lines: Sequence[QuoteLine]
) -> None:
    """Each product a line names exists (hidden ones too: staff sell those) and is not an
    ADDON, which is ordered for one of the client's services (placeOrder)."""
    found = await products_by_ids(conn, [line.product_id for line in lines if line.product_id])
    for index, line in enumerate(lines):
        if line.product_id is None:
            continue
        product = found.get(line.product_id)
        field = f"lines.{index}.product_id"
        if product is None:
            check.fail(field, ErrorCode.NOT_FOUND, "Product not found.")
        elif product.kind is ItemKind.ADDON:
            check.fail(field, ErrorCode.INVALID, "An addon is ordered for a service: placeOrder.")


async def send_quote(
    conn: asyncpg.Connection,
    quote_id: int,
    *,
    staff_id: int | None,
    client_area_url: str,
    page_id: str,
) -> Quote:
    """Email the quote to the client ("Quote Delivered", with copies to the contacts who
    ticked GENERAL) with the link to its page (`page_id`: its API id); it becomes SENT.
    Sending again sends it again."""
    async with conn.transaction():
        quote = await _locked(conn, quote_id, client_id=None, field="id")
        if quote.stored_status is QuoteStatus.ACCEPTED:
            raise DomainError.single(ErrorCode.ALREADY_ACCEPTED, "This quote is accepted.", "id")
        if quote.status(date.today()) is QuoteStatus.EXPIRED:
            raise DomainError.single(
                ErrorCode.EXPIRED, "This quote has expired; give it a new date first.", "id"
            )
        await conn.execute(
            "UPDATE quotes SET status = 'SENT', sent_at = now() WHERE id = $1", quote_id
        )
        client = await conn.fetchrow(
            "SELECT first_name, last_name, email, company_name FROM clients WHERE id = $1",
            quote.client_id,
        )
        await queue_client_email(
            conn,
            quote.client_id,
            template="quote_delivered",
            context={
                "client": dict(client),
                "quote": {
                    "id": page_id,
                    "number": quote.id,
                    "valid_until": quote.valid_until.isoformat(),
                    "subtotal": format_amount(quote.subtotal),
                    "currency": quote.currency,
                    "lines": [
                        {"description": line.description, "amount": format_amount(line.amount)}
                        for line in quote.lines
                    ],
                },
                "client_area_url": client_area_url,
            },
        )
        await audit.record(
            conn,
            staff_id=staff_id,
            action="quote.sent",
            client_id=quote.client_id,
            changes={"quote_id": quote_id},
        )
        return await _get(conn, quote_id)


async def accept_quote(conn: asyncpg.Connection, quote_id: int, *, client_id: int) -> Quote:
    """The client accepts its sent quote: an invoice of its lines, due today, with credit
    applied per the setting (SPEC 3.5). Refused when expired (EXPIRED), accepted already
    (ALREADY_ACCEPTED), or when the client's currency is no longer the quote's. Another
    client's quote, or a draft, is not found."""
    async with conn.transaction():
        client = await conn.fetchrow(
            "SELECT currency, default_payment_method FROM clients WHERE id = $1 FOR UPDATE",
            client_id,
        )
        quote = await _locked(conn, quote_id, client_id=client_id, field="id")
        if client is None or quote.stored_status is QuoteStatus.DRAFT:
            raise NotFound("Quote")
        if quote.stored_status is QuoteStatus.ACCEPTED:
            raise DomainError.single(
                ErrorCode.ALREADY_ACCEPTED, "This quote is accepted already.", "id"
            )
        if quote.status(date.today()) is QuoteStatus.EXPIRED:
            raise DomainError.single(
                ErrorCode.EXPIRED,
                f"This quote was valid until {quote.valid_until.isoformat()}.",
                "id",
            )
        if client["currency"] != quote.currency:
            raise DomainError.single(
                ErrorCode.CURRENCY_IN_USE,
                f"This quote is in {quote.currency}; the account is billed in "
                f"{client['currency']}.",
                "id",
            )
        order_id, invoice_id = await _invoice(conn, quote, client["default_payment_method"])
        await conn.execute(
            """UPDATE quotes SET status = 'ACCEPTED', accepted_at = now(), invoice_id = $2
                WHERE id = $1""",
            quote_id,
            invoice_id,
        )
        await audit.record(
            conn,
            staff_id=None,
            action="quote.accepted",
            client_id=client_id,
            changes={"quote_id": quote_id, "invoice_id": invoice_id, "order_id": order_id},
        )
        return await _get(conn, quote_id)


async def _invoice(
    conn: asyncpg.Connection, quote: Quote, payment_method: str | None
) -> tuple[int | None, int]:
    """The accepted quote's invoice, due today, of its lines in order. The lines naming a
    product are ordered too, at the quote's prices: an order of their items PENDING, which
    staff accept as any other, whose invoice this is. The order's id (None without product
    lines) and the invoice's."""
    products = await products_by_ids(
        conn, [line.product_id for line in quote.lines if line.product_id]
    )
    lines: list[OrderLine | NewItem] = [
        NewItem(line.description, line.amount)
        if line.product_id is None or line.billing_cycle is None
        else OrderLine(
            products[line.product_id].kind,
            line.description,
            line.amount,
            line.billing_cycle,
            line.amount,
            product_id=line.product_id,
        )
        for line in quote.lines
    ]
    if not products:
        invoice_id = await insert_invoice(
            conn,
            quote.client_id,
            due_date=date.today(),
            payment_method=payment_method,
            items=[line for line in lines if isinstance(line, NewItem)],
        )
        return None, invoice_id
    return await insert_order(
        conn, quote.client_id, lines, currency=quote.currency, payment_method=payment_method
    )


async def _locked(
    conn: asyncpg.Connection, quote_id: int, *, client_id: int | None, field: str
) -> Quote:
    """The quote, its row locked; of `client_id` only when given (else NOT_FOUND)."""
    row = await conn.fetchrow(
        f"""SELECT {QUOTE_COLUMNS} FROM quotes
             WHERE id = $1 AND ($2::bigint IS NULL OR client_id = $2) FOR UPDATE""",
        quote_id,
        client_id,
    )
    if row is None:
        raise NotFound("Quote", field)
    return (await _with_lines(conn, [row]))[0]


async def _get(conn: asyncpg.Connection, quote_id: int) -> Quote:
    found = await quotes_by_ids(conn, [quote_id])
    return found[quote_id]


async def _with_lines(conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> list[Quote]:
    """The quotes of `rows` with their lines, read in one more statement."""
    line_rows = await conn.fetch(
        """SELECT quote_id, description, amount, product_id, billing_cycle FROM quote_lines
            WHERE quote_id = ANY($1::bigint[]) ORDER BY quote_id, id""",
        [row["id"] for row in rows],
    )
    lines: dict[int, list[QuoteLine]] = {row["id"]: [] for row in rows}
    for line in line_rows:
        lines[line["quote_id"]].append(
            QuoteLine(
                line["description"],
                line["amount"],
                line["product_id"],
                BillingCycle(line["billing_cycle"]) if line["billing_cycle"] else None,
            )
        )
    return [_quote(row, lines[row["id"]]) for row in rows]


def _quote(row: asyncpg.Record, lines: list[QuoteLine]) -> Quote:
    values = dict(row)
    return Quote(
        **{k: v for k, v in values.items() if k != "status"},
        stored_status=QuoteStatus(values["status"]),
        lines=tuple(lines),
    )


async def quotes_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, Quote]:
    rows = await conn.fetch(
        f"SELECT {QUOTE_COLUMNS} FROM quotes WHERE id = ANY($1::bigint[])", list(ids)
    )
    return {quote.id: quote for quote in await _with_lines(conn, rows)}


async def quotes_by_client(
    conn: asyncpg.Connection,
    client_ids: Sequence[int],
    *,
    per_client: int | None = None,
    drafts: bool,
) -> dict[int, list[Quote]]:
    """Each client's quotes, newest first, at most `per_client` each; drafts only when
    `drafts` (staff see them, the client area does not)."""
    rows = await conn.fetch(
        first_of_each(
            f"""SELECT {QUOTE_COLUMNS} FROM quotes
                 WHERE client_id = {{parent}} AND ($3 OR status <> 'DRAFT')
                 ORDER BY id DESC"""
        ),
        list(client_ids),
        per_client,
        drafts,
    )
    found: dict[int, list[Quote]] = {pk: [] for pk in client_ids}
    for quote in await _with_lines(conn, rows):
        found[quote.client_id].append(quote)
    return found
