"""Root fields of the catalogue and the client area's use of it (SPEC 14): products and their
groups, client-area orders, cancellation requests, domains' auto-renewal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth.permissions import ContactPermission, StaffPermission
from domain.auth.viewer import Viewer
from domain.billing import items, orders
from domain.billing.models import ItemKind
from domain.catalogue import cancellations, products
from domain.catalogue.models import CancellationStatus, CancellationType
from resolvers.billing import IdempotencyKey, order_payload, service_of
from resolvers.context import Context
from resolvers.inputs import existing_id, parse_id
from resolvers.mutation import perform
from resolvers.pagination import (
    After,
    Before,
    First,
    Last,
    connection,
    cursor_errors,
    looks_behind,
    page_request,
)
from resolvers.permissions import client_area, staff, staff_or_client_area
from schema.billing import Domain, DomainPayload, OrderPayload
from schema.catalogue import (
    CancellationPayload,
    CancellationRequest,
    CancellationRequestConnection,
    MyOrderInput,
    Product,
    ProductConnection,
    ProductGroup,
    ProductGroupInput,
    ProductGroupPayload,
    ProductInput,
    ProductPayload,
)
from schema.common import Forbidden
from schema.node import Owned

# The keys of the lists in their cursors.
PRODUCTS, CANCELLATION_REQUESTS = "products", "cancellationRequests"


async def products_by_pks(ctx: Context, pks: Sequence[int]) -> list[Owned | None]:
    """`node`/`nodes`: products by row id, of no client; hidden ones for staff only."""
    viewer = await ctx.get_viewer()
    async with ctx.connection() as conn:
        found = await products.products_by_ids(conn, pks)
    shown = [found.get(pk) for pk in pks]
    return [
        (None, Product.build(row))
        if row and (not row.hidden or (viewer and viewer.is_staff))
        else None
        for row in shown
    ]


async def groups_by_pks(ctx: Context, pks: Sequence[int]) -> list[Owned | None]:
    """`node`/`nodes`: product groups by row id, of no client."""
    async with ctx.connection() as conn:
        found = {row.id: row for row in await products.groups_by_ids(conn, pks)}
    return [(None, ProductGroup.build(found[pk])) if pk in found else None for pk in pks]


async def requests_by_pks(ctx: Context, pks: Sequence[int]) -> list[Owned | None]:
    """`node`/`nodes`: cancellation requests by row id, with their service's client."""
    async with ctx.connection() as conn:
        rows = await cancellations.requests_by_ids(conn, pks)
    return [(row.client_id, CancellationRequest.build(row)) if row else None for row in rows]


async def product_list(
    info: Info[Context, None],
    first: First = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
    kind: Annotated[
        ItemKind | None, strawberry.argument(description="Only products of this kind.")
    ] = None,
    include_hidden: Annotated[
        bool, strawberry.argument(description="Hidden products too (staff only).")
    ] = False,
) -> ProductConnection:
    viewer = await info.context.get_viewer()
    if include_hidden and not (viewer and viewer.is_staff):
        raise Forbidden("Only staff see hidden products.", fields=["includeHidden"])
    request = page_request(PRODUCTS, first, after, last, before)
    async with info.context.connection() as conn:
        with cursor_errors():
            page = await products.find_products(
                conn,
                request,
                kind=kind,
                include_hidden=include_hidden,
                look_behind=looks_behind(info, request),
            )
        total = await products.count_products(conn, kind=kind, include_hidden=include_hidden)
    return connection(ProductConnection, page, PRODUCTS, Product.build, total=total)


async def product_groups(info: Info[Context, None]) -> list[ProductGroup]:
    async with info.context.connection() as conn:
        return [ProductGroup.build(row) for row in await products.product_groups(conn)]


async def cancellation_requests(
    info: Info[Context, None],
    first: First = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
    status: Annotated[
        CancellationStatus | None,
        strawberry.argument(description="Only requests of this status."),
    ] = None,
) -> CancellationRequestConnection:
    request = page_request(CANCELLATION_REQUESTS, first, after, last, before)
    async with info.context.connection() as conn:
        with cursor_errors():
            page = await cancellations.find_cancellation_requests(
                conn, request, status=status, look_behind=looks_behind(info, request)
            )
        total = await cancellations.count_cancellation_requests(conn, status=status)
    return connection(
        CancellationRequestConnection,
        page,
        CANCELLATION_REQUESTS,
        CancellationRequest.build,
        total=total,
    )


def _optional_id(value: str | None, type_name: str, field: str) -> int | None:
    return None if value is None else existing_id(value, type_name, field)


async def save_product(
    info: Info[Context, None],
    input: Annotated[ProductInput, strawberry.argument(description="The product.")],
) -> ProductPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> ProductPayload:
        saved = await products.save_product(
            conn,
            _optional_id(input.id, "Product", "id"),
            {
                "kind": input.kind,
                "name": input.name,
                "description": input.description,
                "group_id": _optional_id(input.group_id, "ProductGroup", "groupId"),
                "addon_of": _optional_id(input.addon_of, "Product", "addonOf"),
                "hidden": input.hidden,
                "pricing": [
                    {
                        "currency": price.currency,
                        "cycle": price.cycle,
                        "amount": price.amount,
                        "setup_fee": price.setup_fee,
                        "transfer_amount": price.transfer_amount,
                        "renew_amount": price.renew_amount,
                    }
                    for price in input.pricing
                ],
            },
        )
        return ProductPayload(product=Product.build(saved))

    return await perform(info, work, ProductPayload)


async def save_product_group(
    info: Info[Context, None],
    input: Annotated[ProductGroupInput, strawberry.argument(description="The group.")],
) -> ProductGroupPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> ProductGroupPayload:
        group = await products.save_product_group(
            conn, _optional_id(input.id, "ProductGroup", "id"), input.name
        )
        return ProductGroupPayload(group=ProductGroup.build(group))

    return await perform(info, work, ProductGroupPayload)


async def place_my_order(
    info: Info[Context, None],
    input: Annotated[MyOrderInput, strawberry.argument(description="What is ordered.")],
    idempotency_key: IdempotencyKey = None,
) -> OrderPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> OrderPayload:
        assert viewer.client_id is not None  # a client-area viewer
        order = await orders.place_order(
            conn,
            viewer.client_id,
            items=[
                {
                    # A product id of nothing (or another type's) is a product not found.
                    "product_id": parse_id(item.product_id, "Product") or -1,
                    "billing_cycle": item.billing_cycle,
                    "domain": item.domain,
                    "transfer": item.transfer,
                    **service_of(item.service_id),
                }
                for item in input.items
            ],
            payment_method=input.payment_method,
            staff_id=None,
            login_id=viewer.login_id,
            idempotency_key=idempotency_key,
            include_hidden=False,
            operation="placeMyOrder",
            confirmation_url=info.context.services.client_area_url,
        )
        return await order_payload(conn, order)

    return await perform(info, work, OrderPayload)


async def request_cancellation(
    info: Info[Context, None],
    service_id: Annotated[
        strawberry.ID,
        strawberry.argument(description="One of my services, or an addon of one to cancel alone."),
    ],
    type: Annotated[CancellationType, strawberry.argument(description="When to cancel it.")],
    reason: Annotated[str, strawberry.argument(description="Why.")],
) -> CancellationPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> CancellationPayload:
        assert viewer.client_id is not None  # a client-area viewer
        request = await cancellations.request_cancellation(
            conn,
            existing_id(service_id, "Service", "serviceId"),
            client_id=viewer.client_id,
            type=type,
            reason=reason,
            login_id=viewer.login_id,
            today=date.today(),
        )
        return CancellationPayload(request=CancellationRequest.build(request))

    return await perform(info, work, CancellationPayload)


async def set_domain_auto_renew(
    info: Info[Context, None],
    domain_id: Annotated[strawberry.ID, strawberry.argument(description="One of my domains.")],
    auto_renew: Annotated[bool, strawberry.argument(description="Whether it renews.")],
) -> DomainPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> DomainPayload:
        assert viewer.client_id is not None  # a client-area viewer
        row = await items.set_domain_auto_renew(
            conn,
            existing_id(domain_id, "Domain", "domainId"),
            auto_renew,
            client_id=viewer.client_id,
        )
        return DomainPayload(domain=Domain.build(row))

    return await perform(info, work, DomainPayload)


@strawberry.type(description="Root fields of the catalogue: what can be read.")
class Queries:
    products: ProductConnection = strawberry.field(
        resolver=product_list,
        extensions=staff_or_client_area(StaffPermission.VIEW_CLIENTS),
        description="The catalogue (staff with VIEW_CLIENTS, any client-area login); hidden "
        "products only for staff who ask.",
    )
    product_groups: list[ProductGroup] = strawberry.field(
        resolver=product_groups,
        extensions=staff_or_client_area(StaffPermission.VIEW_CLIENTS),
        description="The catalogue's groups, in the order they were added.",
    )
    cancellation_requests: CancellationRequestConnection = strawberry.field(
        resolver=cancellation_requests,
        extensions=staff(StaffPermission.VIEW_CLIENTS),
        description="Clients' requests to cancel services, newest first (staff).",
    )


@strawberry.type(description="Root fields of the catalogue: what can be changed.")
class Mutations:
    save_product: ProductPayload = strawberry.field(
        resolver=save_product,
        extensions=staff(StaffPermission.MANAGE_SETTINGS),
        description="Add a product to the catalogue or change one, with all its prices.",
    )
    save_product_group: ProductGroupPayload = strawberry.field(
        resolver=save_product_group,
        extensions=staff(StaffPermission.MANAGE_SETTINGS),
        description="Add a product group or rename one.",
    )
    place_my_order: OrderPayload = strawberry.field(
        resolver=place_my_order,
        extensions=client_area(ContactPermission.ORDERS),
        description="Order products from the catalogue, priced in the client's currency: "
        "the items start PENDING and the invoice, with credit applied, is created (ORDERS).",
    )
    request_cancellation: CancellationPayload = strawberry.field(
        resolver=request_cancellation,
        extensions=client_area(ContactPermission.MANAGE_PRODUCTS),
        description="Ask to cancel one of my services, now or at the end of its billing "
        "period; it is not invoiced again (MANAGE_PRODUCTS).",
    )
    set_domain_auto_renew: DomainPayload = strawberry.field(
        resolver=set_domain_auto_renew,
        extensions=client_area(ContactPermission.MANAGE_DOMAINS),
        description="Choose whether one of my domains renews (MANAGE_DOMAINS).",
    )
