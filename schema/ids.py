"""Object ids as the API shows them, and back.

Every id the API returns is made by `global_id` and every id it accepts is read by
`decode_id` (or `split_id`, for `node`, which learns the type from the id), so the id format
is decided here alone.

The format is the standard Relay global id: base64 (standard alphabet, padded) of
"TypeName:pk", e.g. `Q2xpZW50OjE=` for client 1. Ids are opaque to clients; only the
canonical spelling of an id is accepted, so each object has exactly one id (client caches
key objects by it).
"""

from __future__ import annotations

import base64
import binascii

import strawberry

# The largest row id PostgreSQL's bigint holds; a larger "pk" cannot name a row.
_MAX_PK = 2**63 - 1
# Longer than any id we make (type names are short): not worth decoding.
_MAX_ID_LENGTH = 120


def global_id(type_name: str, pk: int) -> strawberry.ID:
    """The id clients see for row `pk` of the GraphQL type `type_name`."""
    return strawberry.ID(base64.b64encode(f"{type_name}:{pk}".encode()).decode("ascii"))


def split_id(value: str) -> tuple[str, int] | None:
    """The type name and row id inside an id, or None when it is not one of our ids."""
    if len(value) > _MAX_ID_LENGTH or not value.isascii():
        return None
    try:
        type_name, _, pk = base64.b64decode(value, validate=True).decode("ascii").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    # ASCII digits only: int() would also take "١", "+1", " 1" or "1_0".
    if not (type_name and pk.isascii() and pk.isdigit()) or int(pk) > _MAX_PK:
        return None
    if global_id(type_name, int(pk)) != value:  # leading zeros, or a second spelling
        return None
    return type_name, int(pk)


def decode_id(value: str, type_name: str) -> int | None:
    """The row id inside an id of `type_name`, or None for anything else (matches nothing)."""
    parts = split_id(value)
    return parts[1] if parts is not None and parts[0] == type_name else None
