"""An affiliate account and what it shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class Balance:
    """Commissions earned and not reversed, less those paid out, in one currency."""

    currency: str
    amount: Decimal


@dataclass(frozen=True)
class Affiliate:
    id: int
    client_id: int
    referral_code: str
    created_at: datetime
    # One per currency its commissions were earned in, by currency code.
    balances: tuple[Balance, ...]


@dataclass(frozen=True)
class Referral:
    affiliate_id: int
    referred_at: datetime
    # The referred client's status: whether it is still a customer, without naming it.
    client_status: str


@dataclass(frozen=True)
class Commission:
    affiliate_id: int
    invoice_number: int
    amount: Decimal
    currency: str
    earned_at: datetime
    reversed_at: datetime | None
