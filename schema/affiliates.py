"""Affiliate account types and payloads (SPEC 14.3)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry.types import Info

from domain.affiliates import models
from domain.emails.links import client_area_link
from schema.common import UserError
from schema.context import SchemaContext
from schema.nesting import NESTED_LIST_CAP, Capped, capped


@strawberry.type(description="What an affiliate is owed in one currency.")
class AffiliateBalance:
    currency: str = strawberry.field(description="Currency code.")
    amount: Decimal = strawberry.field(
        description="Commissions earned and not reversed, less those paid out (below zero "
        "when a commission paid out was reversed since)."
    )


@strawberry.type(description="A client that signed up with the affiliate's referral code.")
class Referral:
    referred_at: datetime = strawberry.field(description="When it was added.")
    client_status: str = strawberry.field(
        description="Its account status (ACTIVE, INACTIVE, CLOSED); who it is stays private."
    )


@strawberry.type(description="What a referred client's paid invoice earned the affiliate.")
class Commission:
    invoice_number: int = strawberry.field(description="The invoice that earned it.")
    amount: Decimal = strawberry.field(description="What it earned, in `currency`.")
    currency: str = strawberry.field(description="The invoice's currency.")
    earned_at: datetime = strawberry.field(description="When the invoice became PAID.")
    reversed_at: datetime | None = strawberry.field(
        description="When a refund of the invoice's payment took it back; null: it counts."
    )


@strawberry.type(description="A client's affiliate account (SPEC 14.3).")
class Affiliate:
    pk: strawberry.Private[int]
    referral_code: str = strawberry.field(description="The code a referred client signs up with.")
    created_at: datetime = strawberry.field(description="When the account was activated.")
    balance: list[AffiliateBalance] = strawberry.field(
        description="What it is owed, per currency its commissions were earned in."
    )

    @strawberry.field(description="The link to share: the client area's sign-up with the code.")
    def referral_url(self, info: Info[SchemaContext, None]) -> str:
        return client_area_link(
            info.context.client_area_url, "signup", referral_code=self.referral_code
        )

    @strawberry.field(
        description=f"Clients referred, newest first. At most `first` ({NESTED_LIST_CAP}, the cap)."
    )
    async def referrals(
        self, info: Info[SchemaContext, None], first: Capped = NESTED_LIST_CAP
    ) -> list[Referral]:
        rows = await info.context.loaders.referrals_by_affiliate.load(
            (self.pk, capped(first), None)
        )
        return [Referral(referred_at=r.referred_at, client_status=r.client_status) for r in rows]

    @strawberry.field(
        description=f"Commissions, newest first. At most `first` ({NESTED_LIST_CAP}, the cap)."
    )
    async def commissions(
        self, info: Info[SchemaContext, None], first: Capped = NESTED_LIST_CAP
    ) -> list[Commission]:
        rows = await info.context.loaders.commissions_by_affiliate.load(
            (self.pk, capped(first), None)
        )
        return [
            Commission(
                invoice_number=r.invoice_number,
                amount=r.amount,
                currency=r.currency,
                earned_at=r.earned_at,
                reversed_at=r.reversed_at,
            )
            for r in rows
        ]

    @classmethod
    def build(cls, row: models.Affiliate) -> Affiliate:
        return cls(
            pk=row.id,
            referral_code=row.referral_code,
            created_at=row.created_at,
            balance=[AffiliateBalance(currency=b.currency, amount=b.amount) for b in row.balances],
        )


@strawberry.type(description="The result of an affiliate mutation.")
class AffiliatePayload:
    affiliate: Affiliate | None = strawberry.field(
        default=None, description="The affiliate account; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
