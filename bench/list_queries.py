"""The staff list queries `bench.scale` times, made from the committed SDL: every root field
returning a connection (first 50, every scalar of the nodes and of the connection), once more
with `clientId` where it takes one, the client list's filters and orders, and `client(id)`
with every list of the client. Read from the schema so that a new list is timed unasked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import graphql

PAGE_SIZE = 50

# The client list's filters and orders; every other root connection is timed with its
# defaults (and with `clientId` when it takes one), whatever its name.
CLIENT_VARIANTS = (
    ("status: [CLOSED]", "status: [CLOSED]"),
    ("status: [ACTIVE, INACTIVE]", "status: [ACTIVE, INACTIVE]"),
    ("search: a surname", "search: $surname"),
    ("search: a rare fragment", "search: $fragment"),
    ("search: a whole email", "search: $email"),
    ("orderBy: NAME", "orderBy: {field: NAME}"),
    ("orderBy: CREATED_AT DESC", "orderBy: {field: CREATED_AT, direction: DESC}"),
)
VARIABLE_TYPES = {
    "clientId": "ID!",
    "surname": "String!",
    "fragment": "String!",
    "email": "String!",
}


@dataclass(frozen=True)
class ListQuery:
    name: str
    document: str

    def variables(self, values: dict[str, Any]) -> dict[str, Any]:
        return {name: value for name, value in values.items() if f"${name}" in self.document}


def _named_type(type_: graphql.GraphQLOutputType) -> graphql.GraphQLNamedType:
    return graphql.get_named_type(type_)


def _is_list(type_: graphql.GraphQLOutputType) -> bool:
    return isinstance(graphql.get_nullable_type(type_), graphql.GraphQLList)


def _scalars(type_: graphql.GraphQLObjectType) -> str:
    """Every scalar or enum field of `type_` that needs no argument."""
    return " ".join(
        name
        for name, field in type_.fields.items()
        if isinstance(_named_type(field.type), graphql.GraphQLScalarType | graphql.GraphQLEnumType)
        and not any(graphql.is_required_argument(a) for a in field.args.values())
    )


def _document(name: str, field: str, arguments: str, selection: str) -> str:
    used = [v for v in VARIABLE_TYPES if f"${v}" in arguments]
    declared = f"({', '.join(f'${v}: {VARIABLE_TYPES[v]}' for v in used)})" if used else ""
    return f"query {name}{declared} {{ {field}({arguments}) {{ {selection} }} }}"


def list_queries(sdl: str) -> list[ListQuery]:
    """The staff list queries of the schema: every root connection, with its variants, and
    the client with each of its lists."""
    schema = graphql.build_schema(sdl)
    query_type = schema.query_type
    assert query_type is not None
    queries = []
    for field_name, field in query_type.fields.items():
        connection = _named_type(field.type)
        if not (isinstance(connection, graphql.GraphQLObjectType) and "edges" in connection.fields):
            continue
        edge = _named_type(connection.fields["edges"].type)
        assert isinstance(edge, graphql.GraphQLObjectType)
        node = _named_type(edge.fields["node"].type)
        assert isinstance(node, graphql.GraphQLObjectType)
        selection = (
            f"{_scalars(connection)} edges {{ cursor node {{ {_scalars(node)} }} }} "
            "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
        )
        variants = [(field_name, "")]
        if "clientId" in field.args:
            variants.append((f"{field_name}(clientId)", "clientId: $clientId"))
        if field_name == "clients":
            variants += [(f"clients({label})", arguments) for label, arguments in CLIENT_VARIANTS]
        for label, arguments in variants:
            args = ", ".join(a for a in (f"first: {PAGE_SIZE}", arguments) if a)
            name = "".join(ch for ch in label.title() if ch.isalnum())
            queries.append(ListQuery(label, _document(name, field_name, args, selection)))
    client = schema.get_type("Client")
    assert isinstance(client, graphql.GraphQLObjectType)
    lists = " ".join(
        f"{name} {{ {_scalars(item)} }}"
        for name, field in client.fields.items()
        if _is_list(field.type)
        and isinstance(item := _named_type(field.type), graphql.GraphQLObjectType)
    )
    queries.append(
        ListQuery(
            "client(id) with its lists",
            f"query Client($clientId: ID!) {{ client(id: $clientId) {{ id {lists} }} }}",
        )
    )
    return queries
