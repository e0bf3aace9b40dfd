"""Turning GraphQL inputs into the plain mappings domain use cases take."""

from __future__ import annotations

import dataclasses
from typing import Any

import strawberry

from domain.errors import NotFound


def provided_fields(value: Any, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields of an input object that the caller actually gave (UNSET ones left out)."""
    return {
        f.name: getattr(value, f.name)
        for f in dataclasses.fields(value)
        if f.name not in exclude and getattr(value, f.name) is not strawberry.UNSET
    }


def parse_id(value: str) -> int | None:
    """A numeric id, or None for anything else (which then matches nothing)."""
    return int(value) if value.isdigit() and len(value) < 19 else None


def existing_id(value: str, what: str, field: str = "id") -> int:
    """A numeric id, else NOT_FOUND for `field` (an id that is no number names nothing)."""
    parsed = parse_id(value)
    if parsed is None:
        raise NotFound(what, field)
    return parsed
