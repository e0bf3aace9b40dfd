"""Order lines priced from the catalogue, in the order's currency (SPEC 1.6, 14.1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from domain.billing.models import BillingCycle, ItemKind
from domain.catalogue.products import products_by_ids
from domain.errors import ErrorCode
from domain.validation import InputCheck


@dataclass(frozen=True)
class OrderLine:
    """What one order item becomes: an item billed `amount` each cycle, whose first
    period costs `first_amount` (a domain's registration or transfer price) plus
    `setup_fee`, once."""

    kind: ItemKind
    name: str
    amount: Decimal
    billing_cycle: BillingCycle
    first_amount: Decimal
    setup_fee: Decimal = Decimal("0.00")
    product_id: int | None = None
    # Of an addon: the client's service it is of.
    service_id: int | None = None


def addon_service(
    check: InputCheck,
    index: int,
    item: Mapping[str, Any],
    services: Mapping[int, int | None],
    addon_of: int | None = None,
) -> int | None:
    """The service an addon item is for: one of the client's (`services`: their product by
    id); of a catalogue addon, required and of the product it is an addon of."""
    service_id = item.get("service_id")
    field = f"items.{index}.serviceId"
    if service_id is None:
        if addon_of is not None:
            check.fail(field, ErrorCode.REQUIRED, "Say which of your services it is for.")
        return None
    if service_id not in services:
        check.fail(field, ErrorCode.NOT_FOUND, "Service not found.")
    elif addon_of is not None and services[service_id] not in (None, addon_of):
        check.fail(field, ErrorCode.INVALID, "The addon is not one of this service's.")
    return int(service_id)


async def catalogue_lines(
    conn: asyncpg.Connection,
    check: InputCheck,
    items: Sequence[tuple[int, Mapping[str, Any]]],
    *,
    currency: str,
    include_hidden: bool,
    services: Mapping[int, int | None],
) -> list[OrderLine]:
    """The lines of the items (each with its index in the order) that name a product,
    priced in `currency`. A product not found (hidden ones for clients), without a price
    for the cycle in that currency, or a domain without its name, fails that item's field."""
    found = await products_by_ids(conn, [item["product_id"] for _, item in items])
    lines = []
    for index, item in items:
        field = f"items.{index}"
        product = found.get(item["product_id"])
        if product is None or (product.hidden and not include_hidden):
            check.fail(f"{field}.productId", ErrorCode.NOT_FOUND, "Product not found.")
            continue
        cycle = BillingCycle(item.get("billing_cycle") or BillingCycle.MONTHLY)
        price = product.price(currency, cycle)
        if price is None:
            check.fail(
                f"{field}.billingCycle",
                ErrorCode.INVALID,
                f"{product.name} has no {cycle.value} price in {currency}.",
            )
            continue
        name, service_id = product.name, None
        first, recurring = price.amount, price.amount
        if product.kind is ItemKind.ADDON:
            service_id = addon_service(check, index, item, services, product.addon_of)
        if product.kind is ItemKind.DOMAIN:
            name = check.required_text(f"{field}.domain", item.get("domain"), "The domain name")
            assert price.renew_amount is not None and price.transfer_amount is not None
            recurring = price.renew_amount
            first = price.transfer_amount if item.get("transfer") else price.amount
        lines.append(
            OrderLine(
                product.kind, name, recurring, cycle, first, price.setup_fee, product.id, service_id
            )
        )
    return lines
