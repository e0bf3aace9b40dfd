"""The Decimal scalar: amounts leave the API as strings with two places ("10.00").

Input is read exactly and never refused here: a JSON number is taken by its shortest
representation (1.005 stays 1.005), and anything that is not a number becomes NaN. The
domain's `parse_amount` then refuses it with an error on the mutation's own field, so a form
shows "amount: at most two decimal places" instead of a request-wide GraphQL error.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import strawberry
from graphql import FloatValueNode, IntValueNode, StringValueNode, ValueNode

from domain.money import format_amount

NOT_A_NUMBER = Decimal("NaN")


def serialize(value: Decimal | int | str) -> str:
    return format_amount(Decimal(value))


def parse_value(value: Any) -> Decimal:
    if isinstance(value, bool):
        return NOT_A_NUMBER
    if isinstance(value, int | float | str):
        # repr, not Decimal(float): 0.1 must mean 0.1, not 0.1000000000000000055511151231257827.
        text = repr(value) if isinstance(value, float) else str(value)
        try:
            return Decimal(text.strip())
        except InvalidOperation:
            return NOT_A_NUMBER
    return NOT_A_NUMBER


def parse_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Decimal:
    if isinstance(node, IntValueNode | FloatValueNode | StringValueNode):
        return parse_value(node.value)
    return NOT_A_NUMBER


DECIMAL = strawberry.scalar(
    name="Decimal",
    description="An exact amount of money, written as a string with two decimal places "
    '("12.50"). Input may be a string or a number; at most two decimal places.',
    serialize=serialize,
    parse_value=parse_value,
    parse_literal=parse_literal,
)
