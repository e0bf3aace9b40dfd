"""Card numbers and dates: what a valid card looks like, and which scheme issued it."""

from __future__ import annotations

import re
from datetime import date

_MONTH_YEAR = re.compile(r"^(0[1-9]|1[0-2])/([0-9]{2})$")

# (scheme, number prefixes as ranges of the leading digits, accepted lengths), checked in
# order: the first match names the card. Ranges are inclusive and compared on the number's
# first len(str(low)) digits.
_SCHEMES: tuple[tuple[str, tuple[tuple[int, int], ...], tuple[int, ...]], ...] = (
    ("American Express", ((34, 34), (37, 37)), (15,)),
    ("Diners Club", ((300, 305), (36, 36), (38, 39)), (14, 15, 16)),
    ("JCB", ((3528, 3589),), (16, 17, 18, 19)),
    ("Discover", ((6011, 6011), (644, 649), (65, 65)), (16, 17, 18, 19)),
    ("Mastercard", ((51, 55), (2221, 2720)), (16,)),
    ("Maestro", ((50, 50), (56, 58), (6, 6)), (12, 13, 14, 15, 16, 17, 18, 19)),
    ("Visa", ((4, 4),), (13, 16, 19)),
)


def normalise_number(number: str) -> str:
    """The digits of a card number as people type it (spaces and dashes allowed)."""
    return re.sub(r"[ \-]", "", number.strip())


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every card number carries."""
    if not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_type(digits: str) -> str | None:
    """The scheme of a card number from its prefix and length, or None when unknown."""
    for scheme, ranges, lengths in _SCHEMES:
        if len(digits) not in lengths:
            continue
        for low, high in ranges:
            prefix = int(digits[: len(str(low))])
            if low <= prefix <= high:
                return scheme
    return None


def parse_month_year(value: str) -> date | None:
    """`MM/YY` as the first day of that month, or None when it is not in that form."""
    match = _MONTH_YEAR.fullmatch(value.strip())
    if match is None:
        return None
    return date(2000 + int(match.group(2)), int(match.group(1)), 1)
