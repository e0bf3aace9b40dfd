"""Every type and field of the public schema says what it is (GraphiQL's docs are the manual)."""

from __future__ import annotations

from graphql import GraphQLArgument, GraphQLInputObjectType, GraphQLObjectType

from app.graphql import build_schema
from app.settings import Settings

GRAPHQL_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}


def undocumented() -> list[str]:
    schema = build_schema(Settings(_env_file=None))._schema
    missing = []
    for name, graphql_type in schema.type_map.items():
        if name.startswith("__") or name in GRAPHQL_SCALARS:
            continue  # GraphQL's own types
        if not graphql_type.description:
            missing.append(name)
        if isinstance(graphql_type, GraphQLObjectType | GraphQLInputObjectType):
            missing += [
                f"{name}.{field}"
                for field, definition in graphql_type.fields.items()
                if not definition.description
            ]
        if isinstance(graphql_type, GraphQLObjectType):
            missing += [
                f"{name}.{field}({argument})"
                for field, definition in graphql_type.fields.items()
                for argument, spec in definition.args.items()
                if isinstance(spec, GraphQLArgument) and not spec.description
            ]
    return missing


def test_every_schema_type_and_field_has_a_description() -> None:
    assert undocumented() == []
