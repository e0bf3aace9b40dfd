"""Root fields of the payment gateways staff manage (SPEC 13.1)."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth.permissions import StaffPermission
from domain.auth.viewer import Viewer
from domain.billing import gateway_settings
from resolvers.context import Context
from resolvers.mutation import perform
from resolvers.permissions import staff
from schema.gateways import PaymentGateway, PaymentGatewayInput, PaymentGatewayPayload


async def payment_gateways(info: Info[Context, None]) -> list[PaymentGateway]:
    async with info.context.connection() as conn:
        return [PaymentGateway.build(row) for row in await gateway_settings.list_gateways(conn)]


async def update_payment_gateway(
    info: Info[Context, None],
    name: Annotated[str, strawberry.argument(description="The gateway's name.")],
    input: Annotated[PaymentGatewayInput, strawberry.argument(description="The changes.")],
) -> PaymentGatewayPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> PaymentGatewayPayload:
        row = await gateway_settings.update_gateway(
            conn,
            name,
            enabled=input.enabled,
            display_name=input.display_name,
            production=info.context.services.production,
            loaded=info.context.services.gateways.keys(),
            staff_id=viewer.staff_id,
        )
        return PaymentGatewayPayload(gateway=PaymentGateway.build(row))

    return await perform(info, work, PaymentGatewayPayload)


@strawberry.type(description="Root fields of payment gateways: what can be read.")
class Queries:
    payment_gateways: list[PaymentGateway] = strawberry.field(
        resolver=payment_gateways,
        # Staff who set clients' payment methods need to see which gateways there are.
        extensions=staff(StaffPermission.VIEW_CLIENTS),
        description="Every payment gateway, enabled or not (staff).",
    )


@strawberry.type(description="Root fields of payment gateways: what can be changed.")
class Mutations:
    update_payment_gateway: PaymentGatewayPayload = strawberry.field(
        resolver=update_payment_gateway,
        # An installation setting, like the tax rules.
        extensions=staff(StaffPermission.MANAGE_SETTINGS),
        description="Turn a payment gateway on or off, or rename it; audited. The test "
        "gateway cannot be turned on with ENVIRONMENT=production (SPEC 13.1).",
    )
