"""Turning GraphQL inputs into the plain mappings domain use cases take."""

from __future__ import annotations

import dataclasses
from typing import Any

import strawberry

from domain.errors import NotFound
from schema.ids import decode_id


def provided_fields(value: Any, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields of an input object that the caller actually gave (UNSET ones left out)."""
    return {
        f.name: getattr(value, f.name)
        for f in dataclasses.fields(value)
        if f.name not in exclude and getattr(value, f.name) is not strawberry.UNSET
    }


def parse_id(value: str, type_name: str) -> int | None:
    """The row id of an id of `type_name`, or None for anything else (which matches nothing)."""
    return decode_id(value, type_name)


def existing_id(value: str, type_name: str, field: str = "id") -> int:
    """The row id of an id of `type_name`, else NOT_FOUND for `field`."""
    parsed = decode_id(value, type_name)
    if parsed is None:
        raise NotFound(type_name, field)
    return parsed
