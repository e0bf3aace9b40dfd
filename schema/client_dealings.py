"""A client's quotes and affiliate account (SPEC 14.3, 14.4): fields of `Client`, kept here
so that the client's module stays about the client itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from domain.auth.permissions import ContactPermission, StaffPermission
from schema.access import require
from schema.affiliates import Affiliate
from schema.context import SchemaContext
from schema.nesting import NESTED_LIST_CAP, capped
from schema.quotes import Quote

# Each quote brings its lines and its invoice with the invoice's lines: a client's quotes
# are asked for a few at a time (a page of clients × 200 quotes would cost too much).
QUOTES_BY_DEFAULT = 20
QuotesFirst = Annotated[
    int,
    strawberry.argument(
        description=f"At most this many, 1–{NESTED_LIST_CAP}; {QUOTES_BY_DEFAULT} by default."
    ),
]


@strawberry.type(description="What a client is offered and what it earns by referring others.")
class ClientDealings:
    if TYPE_CHECKING:
        pk: int  # the client's row id, a field of `Client`

    @strawberry.field(
        description="Quotes, newest first (SPEC 14.4); the client area sees those sent, staff "
        f"the drafts too. At most `first` ({QUOTES_BY_DEFAULT} by default, {NESTED_LIST_CAP} "
        "at most)."
    )
    async def quotes(
        self, info: Info[SchemaContext, None], first: QuotesFirst = QUOTES_BY_DEFAULT
    ) -> list[Quote]:
        await require(
            info, staff=StaffPermission.VIEW_CLIENTS, client_area=ContactPermission.QUOTES
        )
        viewer = await info.context.get_viewer()
        drafts = viewer is not None and viewer.is_staff
        rows = await info.context.loaders.quotes_by_client.load((self.pk, capped(first), drafts))
        return [Quote.build(row) for row in rows]

    @strawberry.field(
        description="The affiliate account (SPEC 14.3); null until `activateMyAffiliate`."
    )
    async def affiliate(self, info: Info[SchemaContext, None]) -> Affiliate | None:
        await require(
            info, staff=StaffPermission.VIEW_CLIENTS, client_area=ContactPermission.AFFILIATES
        )
        row = await info.context.loaders.affiliate_by_client.load(self.pk)
        return Affiliate.build(row) if row else None
