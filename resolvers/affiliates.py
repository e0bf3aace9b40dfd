"""Root fields of affiliate accounts (SPEC 14.3): the client area activates its own, staff
pay balances out as credit."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain.affiliates import services
from domain.auth.permissions import ContactPermission, StaffPermission
from domain.auth.viewer import Viewer
from resolvers.billing import IdempotencyKey
from resolvers.context import Context
from resolvers.inputs import existing_id
from resolvers.mutation import perform
from resolvers.permissions import client_area, staff
from schema.affiliates import Affiliate, AffiliatePayload


async def activate_my_affiliate(info: Info[Context, None]) -> AffiliatePayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> AffiliatePayload:
        assert viewer.client_id is not None  # the permission class saw to it
        affiliate = await services.activate_affiliate(conn, viewer.client_id)
        return AffiliatePayload(affiliate=Affiliate.build(affiliate))

    return await perform(info, work, AffiliatePayload)


async def pay_affiliate_balance(
    info: Info[Context, None],
    client_id: Annotated[
        strawberry.ID, strawberry.argument(description="The affiliate's client's id.")
    ],
    idempotency_key: IdempotencyKey = None,
) -> AffiliatePayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> AffiliatePayload:
        affiliate = await services.pay_balance(
            conn,
            existing_id(client_id, "Client", "clientId"),
            staff_id=viewer.staff_id,
            login_id=viewer.login_id,
            idempotency_key=idempotency_key,
        )
        return AffiliatePayload(affiliate=Affiliate.build(affiliate))

    return await perform(info, work, AffiliatePayload)


@strawberry.type(description="Root fields of affiliate accounts: what can be changed.")
class Mutations:
    activate_my_affiliate: AffiliatePayload = strawberry.field(
        resolver=activate_my_affiliate,
        extensions=client_area(ContactPermission.AFFILIATES),
        description="Client area (the account holder, or a sub-account with AFFILIATES): "
        "the client's affiliate account with its referral code and link, made the first "
        "time; the same one after.",
    )
    pay_affiliate_balance: AffiliatePayload = strawberry.field(
        resolver=pay_affiliate_balance,
        extensions=staff(StaffPermission.MANAGE_BILLING),
        description="Pay an affiliate's balance in its client's currency out as that "
        "client's credit (SPEC 14.3); INVALID when there is none. Audited; paid once however "
        "many payouts run at once.",
    )
