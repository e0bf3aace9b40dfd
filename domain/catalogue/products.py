"""Staff manage the catalogue (SPEC 14.1): product groups, and products priced per billing
cycle in each currency, visible to clients or hidden."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import asyncpg

from domain.billing.models import BillingCycle, ItemKind
from domain.catalogue.models import Product, ProductGroup, ProductPrice
from domain.errors import DomainError, ErrorCode, NotFound
from domain.money import parse_amount
from domain.paging import Keyset, Page, PageRequest, fetch_page
from domain.totals import Total, count_rows
from domain.validation import MAX_NOTES, InputCheck

# A product's prices come with it, in the same statement, sorted so that they read the same
# every time: a product has a handful (currencies × cycles), never a list to page through.
_PRICING_SQL = """(SELECT coalesce(jsonb_agg(jsonb_build_object(
        'currency', pp.currency, 'cycle', pp.cycle, 'amount', pp.amount::text,
        'setup_fee', pp.setup_fee::text, 'transfer_amount', pp.transfer_amount::text,
        'renew_amount', pp.renew_amount::text)
        ORDER BY pp.currency, array_position(ARRAY['MONTHLY', 'QUARTERLY', 'SEMI_ANNUALLY',
                 'ANNUALLY', 'BIENNIALLY', 'TRIENNIALLY', 'ONE_TIME'], pp.cycle)), '[]')
      FROM product_prices pp WHERE pp.product_id = p.id) AS pricing"""
PRODUCT_COLUMNS = f"""p.id, p.group_id, p.kind, p.name, p.description, p.hidden, p.addon_of,
    p.created_at, {_PRICING_SQL}"""

PRODUCTS = Keyset(
    columns=PRODUCT_COLUMNS,
    source="FROM products p",
    expression="p.id",
    sql_type="bigint",
    id_column="p.id",
)
MAX_PRICES = 100


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def product_from_row(row: Mapping[str, Any]) -> Product:
    pricing = row["pricing"]
    prices = json.loads(pricing) if isinstance(pricing, str) else pricing
    return Product(
        id=row["id"],
        group_id=row["group_id"],
        kind=ItemKind(row["kind"]),
        name=row["name"],
        description=row["description"],
        hidden=row["hidden"],
        addon_of=row["addon_of"],
        created_at=row["created_at"],
        pricing=tuple(
            ProductPrice(
                currency=p["currency"],
                cycle=BillingCycle(p["cycle"]),
                amount=Decimal(p["amount"]),
                setup_fee=Decimal(p["setup_fee"]),
                transfer_amount=_decimal(p["transfer_amount"]),
                renew_amount=_decimal(p["renew_amount"]),
            )
            for p in prices
        ),
    )


def _conditions(kind: ItemKind | None, include_hidden: bool) -> tuple[list[str], list[Any]]:
    conditions, params = [] if include_hidden else ["NOT p.hidden"], []
    if kind is not None:
        params.append(kind.value)
        conditions.append(f"p.kind = ${len(params)}")
    return conditions, params


async def find_products(
    conn: asyncpg.Connection,
    request: PageRequest,
    *,
    kind: ItemKind | None,
    include_hidden: bool,
    look_behind: bool = True,
) -> Page[Product]:
    """A page of the catalogue in the order products were added; hidden ones only when asked."""
    conditions, params = _conditions(kind, include_hidden)
    return await fetch_page(
        conn,
        PRODUCTS,
        request,
        product_from_row,
        conditions=conditions,
        params=params,
        look_behind=look_behind,
    )


async def count_products(
    conn: asyncpg.Connection, *, kind: ItemKind | None, include_hidden: bool
) -> Total:
    conditions, params = _conditions(kind, include_hidden)
    return await count_rows(conn, "FROM products p", conditions=conditions, params=params)


async def products_by_ids(
    conn: asyncpg.Connection, product_ids: Sequence[int]
) -> dict[int, Product]:
    rows = await conn.fetch(
        f"SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.id = ANY($1::bigint[])",
        list(product_ids),
    )
    return {row["id"]: product_from_row(row) for row in rows}


async def product_groups(conn: asyncpg.Connection) -> list[ProductGroup]:
    rows = await conn.fetch("SELECT id, name, created_at FROM product_groups ORDER BY id")
    return [ProductGroup(**dict(row)) for row in rows]


async def groups_by_ids(conn: asyncpg.Connection, group_ids: Sequence[int]) -> list[ProductGroup]:
    rows = await conn.fetch(
        "SELECT id, name, created_at FROM product_groups WHERE id = ANY($1::bigint[])",
        list(group_ids),
    )
    return [ProductGroup(**dict(row)) for row in rows]


async def save_product_group(
    conn: asyncpg.Connection, group_id: int | None, name: str | None
) -> ProductGroup:
    """Add a group (no id) or rename one."""
    check = InputCheck()
    cleaned = check.required_text("name", name, "Name")
    check.raise_if_failed()
    if group_id is None:
        row = await conn.fetchrow(
            "INSERT INTO product_groups (name) VALUES ($1) RETURNING id, name, created_at",
            cleaned,
        )
    else:
        row = await conn.fetchrow(
            "UPDATE product_groups SET name = $2 WHERE id = $1 RETURNING id, name, created_at",
            group_id,
            cleaned,
        )
        if row is None:
            raise NotFound("Product group")
    return ProductGroup(**dict(row))


def _clean_prices(
    check: InputCheck, kind: ItemKind, pricing: Sequence[Mapping[str, Any]]
) -> list[ProductPrice]:
    """Each price checked; a DOMAIN needs its transfer and renewal prices, no other kind
    has them."""
    if len(pricing) > MAX_PRICES:
        check.fail("pricing", ErrorCode.INVALID, f"At most {MAX_PRICES} prices.")
    prices: list[ProductPrice] = []
    seen: set[tuple[str, BillingCycle]] = set()
    for index, price in enumerate(pricing[:MAX_PRICES]):
        field = f"pricing.{index}"
        currency = (price.get("currency") or "").strip().upper()
        cycle = BillingCycle(price["cycle"])
        if (currency, cycle) in seen:
            check.fail(f"{field}.cycle", ErrorCode.CONFLICT, f"{currency} {cycle} is given twice.")
        seen.add((currency, cycle))
        amounts: dict[str, Decimal | None] = {}
        for name in ("amount", "setup_fee", "transfer_amount", "renew_amount"):
            value = price.get(name)
            if value is None:
                amounts[name] = None
                continue
            try:
                amounts[name] = parse_amount(value, f"{field}.{name}", allow_zero=True)
            except DomainError as error:
                check.errors.extend(error.errors)
        for name in ("transfer_amount", "renew_amount"):
            if kind is ItemKind.DOMAIN and price.get(name) is None:
                check.fail(f"{field}.{name}", ErrorCode.REQUIRED, "A domain needs this price.")
            elif kind is not ItemKind.DOMAIN and price.get(name) is not None:
                check.fail(f"{field}.{name}", ErrorCode.INVALID, "Only domains have this price.")
        amount = amounts.get("amount")
        if amount is None:
            continue
        prices.append(
            ProductPrice(
                currency,
                cycle,
                amount,
                amounts.get("setup_fee") or Decimal("0.00"),
                amounts.get("transfer_amount"),
                amounts.get("renew_amount"),
            )
        )
    return prices


async def _check_references(
    conn: asyncpg.Connection,
    check: InputCheck,
    kind: ItemKind,
    group_id: int | None,
    addon_of: int | None,
    prices: Sequence[ProductPrice],
) -> None:
    if group_id is not None and not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM product_groups WHERE id = $1)", group_id
    ):
        check.fail("group_id", ErrorCode.NOT_FOUND, "Product group not found.")
    if kind is ItemKind.ADDON:
        parent = await conn.fetchval("SELECT kind FROM products WHERE id = $1", addon_of)
        if parent != ItemKind.SERVICE.value:
            check.fail("addon_of", ErrorCode.INVALID, "An addon is of a SERVICE product.")
    elif addon_of is not None:
        check.fail("addon_of", ErrorCode.INVALID, "Only an ADDON is of a service product.")
    known = set(await conn.fetchval("SELECT coalesce(array_agg(code::text), '{}') FROM currencies"))
    for index, price in enumerate(prices):
        if price.currency not in known:
            check.fail(
                f"pricing.{index}.currency",
                ErrorCode.INVALID,
                f"'{price.currency}' is not a currency of this installation.",
            )


async def save_product(
    conn: asyncpg.Connection, product_id: int | None, fields: Mapping[str, Any]
) -> Product:
    """Add a product (no id) or replace one's details and its whole price list."""
    check = InputCheck()
    kind = ItemKind(fields["kind"])
    name = check.required_text("name", fields.get("name"), "Name")
    description = (
        check.optional_text(
            "description", fields.get("description"), "Description", MAX_NOTES, multiline=True
        )
        or ""
    )
    prices = _clean_prices(check, kind, fields.get("pricing") or [])
    group_id, addon_of = fields.get("group_id"), fields.get("addon_of")
    async with conn.transaction():
        await _check_references(conn, check, kind, group_id, addon_of, prices)
        if product_id is not None:
            current = await conn.fetchval(
                "SELECT kind FROM products WHERE id = $1 FOR UPDATE", product_id
            )
            if current is None:
                raise NotFound("Product")
            if current != kind.value:
                check.fail("kind", ErrorCode.INVALID, "A product's kind cannot change.")
        check.raise_if_failed()
        values = (group_id, kind.value, name, description, bool(fields.get("hidden")), addon_of)
        if product_id is None:
            product_id = await conn.fetchval(
                """INSERT INTO products (group_id, kind, name, description, hidden, addon_of)
                   VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
                *values,
            )
        else:
            await conn.execute(
                """UPDATE products SET group_id = $2, name = $4, description = $5, hidden = $6,
                          addon_of = $7
                    WHERE id = $1 AND kind = $3""",
                product_id,
                *values,
            )
            await conn.execute("DELETE FROM product_prices WHERE product_id = $1", product_id)
        await conn.executemany(
            """INSERT INTO product_prices
                   (product_id, currency, cycle, amount, setup_fee, transfer_amount, renew_amount)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            [
                (
                    product_id,
                    p.currency,
                    p.cycle.value,
                    p.amount,
                    p.setup_fee,
                    p.transfer_amount,
                    p.renew_amount,
                )
                for p in prices
            ],
        )
        saved = await products_by_ids(conn, [product_id])
        return saved[product_id]
