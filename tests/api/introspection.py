"""The built schema as a client sees it through introspection: what tests that must cover
every root operation enumerate, so that a new operation cannot ship without its entry."""

from __future__ import annotations

from functools import cache
from typing import Any

from graphql import build_schema as build_graphql_schema
from graphql import introspection_from_schema

from app.graphql import build_schema
from app.settings import Settings

ROOTS = ("Query", "Mutation")


@cache
def _types() -> dict[str, dict[str, Any]]:
    # From the SDL the server prints, without running an operation (and its extensions).
    sdl = build_schema(Settings(_env_file=None, introspection=True)).as_str()
    introspected = introspection_from_schema(build_graphql_schema(sdl))
    return {t["name"]: dict(t) for t in introspected["__schema"]["types"]}


def root_fields() -> dict[str, str]:
    """Every root field's name and its root type (Query or Mutation)."""
    return {field["name"]: root for root in ROOTS for field in _types()[root]["fields"]}


def type_fields(type_name: str) -> set[str]:
    """The names of an object type's fields."""
    return {field["name"] for field in _types()[type_name]["fields"]}


def _named_type(type_ref: dict[str, Any]) -> str:
    while type_ref.get("ofType"):
        type_ref = type_ref["ofType"]
    name: str = type_ref["name"]
    return name


def _input_has_field(type_name: str, field: str, seen: frozenset[str] = frozenset()) -> bool:
    described = _types()[type_name]
    if described["kind"] != "INPUT_OBJECT" or type_name in seen:
        return False
    return any(
        f["name"] == field or _input_has_field(_named_type(f["type"]), field, seen | {type_name})
        for f in described["inputFields"]
    )


def root_fields_taking(argument: str) -> set[str]:
    """Root fields with an argument named `argument`, directly or inside an input object."""
    return {
        field["name"]
        for root in ROOTS
        for field in _types()[root]["fields"]
        if any(
            arg["name"] == argument or _input_has_field(_named_type(arg["type"]), argument)
            for arg in field["args"]
        )
    }
