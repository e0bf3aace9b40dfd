"""The Decimal scalar: amounts leave the API as strings with two places ("10.00").

Input is read exactly and never refused here: a JSON number is taken by its shortest
representation (1.005 stays 1.005), a string or a literal only when it is a plain ASCII
decimal (`domain.money.read_decimal`: no "1_000", "1e3", " 12" or "NaN"), and anything else
becomes NaN. The domain's `parse_amount` then refuses it with an error on the mutation's own
field, so a form shows "amount: at most two decimal places" instead of a request-wide
GraphQL error.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import strawberry
from graphql import FloatValueNode, IntValueNode, StringValueNode, ValueNode

from domain.money import format_amount, read_decimal

NOT_A_NUMBER = Decimal("NaN")


def serialize(value: Decimal | int | str) -> str:
    return format_amount(Decimal(value))


def parse_value(value: Any) -> Decimal:
    if isinstance(value, bool):
        return NOT_A_NUMBER
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # repr, not Decimal(float): 0.1 must mean 0.1, not 0.1000000000000000055511151231257827.
        # A JSON number is a number whatever its spelling (1e3 arrives as 1000.0).
        return Decimal(repr(value))
    if isinstance(value, str):
        return _read(value)
    return NOT_A_NUMBER


def parse_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Decimal:
    # A literal is read as written in the query, so `amount: 1e3` is refused like "1e3".
    if isinstance(node, IntValueNode | FloatValueNode | StringValueNode):
        return _read(node.value)
    return NOT_A_NUMBER


def _read(text: str) -> Decimal:
    amount = read_decimal(text)
    return NOT_A_NUMBER if amount is None else amount


DECIMAL = strawberry.scalar(
    name="Decimal",
    description="An exact amount of money, written as a string with two decimal places "
    '("12.50"). Input may be a number or a string of the digits 0-9 with an optional point '
    'and minus sign ("12.5"; no spaces, "+", exponents or "_"); at most two decimal places.',
    serialize=serialize,
    parse_value=parse_value,
    parse_literal=parse_literal,
)
