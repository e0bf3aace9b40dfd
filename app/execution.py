"""How the schema executes an operation: Strawberry's executor (graphql-core's, through the
`execution_context_class` Strawberry's schema takes), with a shortcut for plain leaf fields.

Most values of a response are strings, booleans, enums, dates and amounts read from
attributes (a page of 50 clients is about a thousand of them). For each, graphql-core makes
a response path and a resolve info, calls Strawberry's resolver (which reads the attribute),
completes the non-null wrapper, then the leaf type, then coerces the value for output: about
4 µs per field, most of a list's cost.

A field Strawberry calls basic (no resolver, no field extensions: no permission check of
its own) of a scalar or enum type that takes no arguments is a plain leaf. Its value is read
as Strawberry reads it (the config's default resolver, `getattr`) and coerced by its type
as graphql-core does; when that gives a value (or a null the field allows), the value goes
straight into the result. Anything else — an error returned as the value, an error in
coercing, a null on a non-null field — and every other field goes through graphql-core's
own execution, which answers as before, errors and paths included (a test compares both
executors on such values).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    Undefined,
    get_nullable_type,
    is_leaf_type,
)
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

# Values that coercing for output returns unchanged, skipped without a call.
UNCHANGED_BY_COERCING: dict[str, type] = {"String": str, "ID": str, "Boolean": bool}


@dataclass(frozen=True, slots=True)
class PlainLeaf:
    """A basic Strawberry field of a scalar or enum type, taking no arguments."""

    read: Callable[[Any], Any]
    leaf_type: GraphQLLeafType
    unchanged: type | None
    nullable: bool

    def value(self, source: Any) -> Any:
        """The value as graphql-core would complete it, or Undefined to let it decide."""
        value = self.read(source)
        if value is None:
            return None if self.nullable else Undefined
        if type(value) is self.unchanged:
            return value
        if isinstance(value, Exception):
            # graphql-core raises a returned error as the field's (schema/access.py uses it).
            return Undefined
        try:
            coerced = self.leaf_type.coerce_output_value(value)
        except Exception:  # graphql-core coerces again and makes the error, with its path
            return Undefined
        return Undefined if coerced is None else coerced


def plain_leaf(field: GraphQLField) -> PlainLeaf | None:
    definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
        return None
    leaf_type = get_nullable_type(field.type)
    if field.args or not is_leaf_type(leaf_type):
        return None
    read = definition.default_resolver
    name = definition.python_name
    return PlainLeaf(
        read=attrgetter(name) if read is getattr else lambda source: read(source, name),
        leaf_type=leaf_type,
        unchanged=UNCHANGED_BY_COERCING.get(leaf_type.name),
        nullable=type(field.type) is not GraphQLNonNull,
    )


# Per object type of a schema, its plain leaves, found once.
_plain_leaves: weakref.WeakKeyDictionary[GraphQLObjectType, dict[str, PlainLeaf]] = (
    weakref.WeakKeyDictionary()
)


def plain_leaves(parent_type: GraphQLObjectType) -> dict[str, PlainLeaf]:
    leaves = _plain_leaves.get(parent_type)
    if leaves is None:
        leaves = {}
        for name, field in parent_type.fields.items():
            if (leaf := plain_leaf(field)) is not None:
                leaves[name] = leaf
        _plain_leaves[parent_type] = leaves
    return leaves


class ClientdeskExecutor(StrawberryGraphQLCoreExecutionContext):
    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        """Plain leaves first, without a path or a resolve info; graphql-core the rest."""
        middleware = self.middleware_manager
        # Middleware would wrap every resolver (Strawberry passes an empty manager).
        leaves = plain_leaves(parent_type) if not middleware or not middleware.middlewares else {}
        if not leaves:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        values: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for response_name, field_details_list in grouped_field_set.items():
            node = field_details_list[0].node
            leaf = None if node.arguments else leaves.get(node.name.value)
            value = Undefined if leaf is None else leaf.value(source_value)
            if value is Undefined:
                rest[response_name] = field_details_list
            else:
                values[response_name] = value
        if not rest:
            return values
        others = super().execute_fields(parent_type, source_value, path, rest, position_context)
        if isinstance(others, dict):
            return self._in_order(grouped_field_set, values, others)

        async def in_order() -> dict[str, Any]:
            return self._in_order(grouped_field_set, values, await others)

        return in_order()

    @staticmethod
    def _in_order(
        grouped_field_set: dict[str, Any], values: dict[str, Any], others: dict[str, Any]
    ) -> dict[str, Any]:
        """The response keys in the order of the selection, as the spec orders them."""
        values.update(others)
        return {name: values[name] for name in grouped_field_set if name in values}
