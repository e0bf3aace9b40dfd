"""Object ids as the API shows them, and back.

Every id the API returns is made by `global_id` and every id it accepts is read by
`decode_id`, so the id format is decided here alone.
"""

from __future__ import annotations

import strawberry


def global_id(type_name: str, pk: int) -> strawberry.ID:
    """The id clients see for row `pk` of the GraphQL type `type_name`."""
    return strawberry.ID(str(pk))


def decode_id(value: str, type_name: str) -> int | None:
    """The row id inside an id of `type_name`, or None for anything else (matches nothing)."""
    # ASCII digits only: str.isdigit() also takes "²", "٢" and "２", and int() reads the last
    # two as 2.
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None
