"""Money amounts: exact decimals with two places, checked once where they enter (SPEC 3.6)."""

from __future__ import annotations

import re
from decimal import Decimal

from domain.errors import DomainError, ErrorCode

CENT = Decimal("0.01")
# The largest amount NUMERIC(14, 2) holds; anything above is a typo, not a price.
MAX_AMOUNT = Decimal("999999999999.99")
# How an amount is written: ASCII digits, an optional point followed by digits, a minus sign
# at most. Decimal() alone would also read "1_000", Arabic-Indic or fullwidth digits, "1e3",
# " 12", "+12", "NaN" and "Infinity", none of which a person means as a price.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def parse_amount(value: Decimal | str | int, field: str, *, allow_zero: bool = False) -> Decimal:
    """The amount as a Decimal with two places, or a DomainError (code INVALID) on `field`.

    Refused: anything that is not an exact number (floats, NaN, infinities, text), more than
    two decimal places that are not zeros (1.005), negative amounts, zero unless
    `allow_zero`, and amounts above MAX_AMOUNT.
    """
    amount = exact_decimal(value)
    if amount is None or not amount.is_finite():
        raise _invalid(field, "Amount must be a number written with the digits 0-9, e.g. 12.50.")
    if amount < 0 or (amount == 0 and not allow_zero):
        limit = "zero or more" if allow_zero else "greater than zero"
        raise _invalid(field, f"Amount must be {limit}.")
    if amount > MAX_AMOUNT:
        raise _invalid(field, f"Amount must not exceed {MAX_AMOUNT:,}.")
    cents = amount.quantize(CENT)
    if cents != amount:
        raise _invalid(field, "Amount may have at most two decimal places.")
    return cents


def format_amount(amount: Decimal) -> str:
    """Two places, no exponent: how amounts leave the API ("10.00", "-2.50")."""
    return f"{amount.quantize(CENT):f}"


def exact_decimal(value: object) -> Decimal | None:
    """The value as a Decimal when it is an exact number (not checked further), else None."""
    # bool is an int, and a float is never exact: both are refused rather than guessed at.
    if isinstance(value, (bool, float)):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        return read_decimal(value)
    return None


def read_decimal(text: str) -> Decimal | None:
    """The text as a Decimal when it is a plain decimal ("12.50", "-3", "7.125"), else None."""
    return Decimal(text) if _PLAIN_DECIMAL.fullmatch(text) else None


def check_storable(total: Decimal, field: str, what: str) -> None:
    """Refuse (INVALID on `field`) a sum about to be stored that NUMERIC(14, 2) cannot hold,
    rather than let the database fail the statement; `what` names it ("The credit balance")."""
    if total > MAX_AMOUNT:
        raise _invalid(field, f"{what} would be {total:,}; it can be at most {MAX_AMOUNT:,}.")


def _invalid(field: str, message: str) -> DomainError:
    return DomainError.single(ErrorCode.INVALID, message, field)
