"""Stored card types: what staff see of a card, the card input and the reveal payload."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.cards.services import StoredCard
from schema.common import UserError


@strawberry.type(description="The client's stored card as staff see it; never the number.")
class Card:
    card_type: str = strawberry.field(description="The scheme, derived from the number.")
    last_four: str = strawberry.field(description="The last four digits.")
    expiry: str = strawberry.field(description="Expiry date, MM/YY.")
    issue_number: str | None = strawberry.field(description="Issue number (some debit cards).")
    start_date: str | None = strawberry.field(description="Start date, MM/YY, when printed.")
    updated_at: datetime = strawberry.field(description="When the card was last saved.")

    @classmethod
    def build(cls, row: StoredCard) -> Card:
        return cls(
            card_type=row.card_type,
            last_four=row.last_four,
            expiry=row.expiry,
            issue_number=row.issue_number,
            start_date=row.start_date,
            updated_at=row.updated_at,
        )


@strawberry.input(
    description="A card to store. The CVV is never stored: `cvc` only goes on to a gateway "
    "that keeps cards (Stripe), once, for its check."
)
class CardInput:
    number: str = strawberry.field(description="The card number; spaces and dashes allowed.")
    expiry: str = strawberry.field(description="Expiry date, MM/YY; not in the past.")
    issue_number: str | None = strawberry.field(
        default=None, description="Issue number, 1 to 4 digits, when the card has one."
    )
    start_date: str | None = strawberry.field(
        default=None, description="Start date, MM/YY, when the card has one."
    )
    cvc: str | None = strawberry.field(
        default=None,
        description="The card's security code, passed to a gateway that keeps the card "
        "(Stripe) when it asks for one; never stored, and not used otherwise.",
    )


@strawberry.type(description="The result of revealing a stored card's full number.")
class RevealCardPayload:
    number: str | None = strawberry.field(
        default=None, description="The full card number; null when refused."
    )
    retry_after_seconds: int | None = strawberry.field(
        default=None,
        description="Refused after repeated wrong secrets (TOO_MANY_ATTEMPTS): the seconds "
        "until this staff member may present one again; null otherwise.",
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
