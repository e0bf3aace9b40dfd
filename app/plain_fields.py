"""The plain fields of the schema's object types, found once per type, and the plan of each
collected selection: what app/execution.py reads straight from attributes (its docstring
says which fields are plain and why)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    Undefined,
    get_nullable_type,
    is_leaf_type,
)
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from schema.prefetched import PREFETCHED_IN

ResolveInfo = GraphQLResolveInfo[Any]

# Values that coercing for output returns unchanged, skipped without a call.
UNCHANGED_BY_COERCING: dict[str, type] = {"String": str, "ID": str, "Boolean": bool}


@dataclass(frozen=True, slots=True)
class PlainLeaf:
    """A basic Strawberry field of a scalar or enum type, taking no arguments."""

    read: Callable[[Any], Any]
    leaf_type: GraphQLLeafType
    unchanged: type | None
    nullable: bool

    def completed(self, value: Any) -> Any:
        """The value read as graphql-core would complete it, or Undefined to let it decide
        (`execute_fields` takes a value of the `unchanged` type as it is, without this call)."""
        if value is None:
            return None if self.nullable else Undefined
        if isinstance(value, Exception):
            # graphql-core raises a returned error as the field's (schema/access.py uses it).
            return Undefined
        try:
            coerced = self.leaf_type.coerce_output_value(value)
        except Exception:  # graphql-core coerces again and makes the error, with its path
            return Undefined
        return Undefined if coerced is None else coerced


@dataclass(frozen=True, slots=True)
class PlainObject:
    """A basic Strawberry field of an object type or of a list of one, taking no arguments."""

    read: Callable[[Any], Any]
    field: GraphQLField
    object_type: GraphQLObjectType
    # The list's item type (with its non-null wrapper) for a list, else None.
    item_type: GraphQLOutputType | None
    nullable: bool
    # A field with a resolver, read from the attribute its parent may have prefetched it in
    # (schema/prefetched.py): None there means "call the resolver", not null.
    prefetched: bool = False


def basic_reader(field: GraphQLField) -> Callable[[Any], Any] | None:
    """How Strawberry reads a basic field without arguments (None: not such a field)."""
    definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or not definition.is_basic_field or field.args:
        return None
    read = definition.default_resolver
    name = definition.python_name
    return attrgetter(name) if read is getattr else lambda source: read(source, name)


def plain_leaf(field: GraphQLField) -> PlainLeaf | None:
    leaf_type = get_nullable_type(field.type)
    if not is_leaf_type(leaf_type) or (read := basic_reader(field)) is None:
        return None
    return PlainLeaf(
        read=read,
        leaf_type=leaf_type,
        unchanged=UNCHANGED_BY_COERCING.get(leaf_type.name),
        nullable=type(field.type) is not GraphQLNonNull,
    )


def prefetched_reader(field: GraphQLField) -> Callable[[Any], Any] | None:
    """How to read the prefetched value of a field that declares one (schema/prefetched.py)
    and has no extension (such as a permission check) that answering without a call of its
    resolver would skip. Its arguments, if any, are the prefetching resolver's to honour:
    it prefetches only for a selection that leaves them to their defaults."""
    definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or definition.extensions:
        return None
    attribute = definition.metadata.get(PREFETCHED_IN)
    return None if attribute is None else attrgetter(attribute)


def plain_object(field: GraphQLField) -> PlainObject | None:
    nullable_type = get_nullable_type(field.type)
    item_type = nullable_type.of_type if isinstance(nullable_type, GraphQLList) else None
    object_type = nullable_type if item_type is None else get_nullable_type(item_type)
    if not isinstance(object_type, GraphQLObjectType):
        return None
    basic = basic_reader(field)
    read = basic or prefetched_reader(field)
    if read is None:
        return None
    return PlainObject(
        read=read,
        field=field,
        object_type=object_type,
        item_type=item_type,
        nullable=type(field.type) is not GraphQLNonNull,
        prefetched=basic is None,
    )


@dataclass(frozen=True, slots=True)
class PlainFields:
    leaves: dict[str, PlainLeaf]
    objects: dict[str, PlainObject]


# Per object type of a schema, its plain fields, found once.
_plain_fields: weakref.WeakKeyDictionary[GraphQLObjectType, PlainFields] = (
    weakref.WeakKeyDictionary()
)


def plain_fields(parent_type: GraphQLObjectType) -> PlainFields:
    found = _plain_fields.get(parent_type)
    if found is None:
        found = PlainFields(leaves={}, objects={})
        for name, field in parent_type.fields.items():
            if (leaf := plain_leaf(field)) is not None:
                found.leaves[name] = leaf
            elif (plain := plain_object(field)) is not None:
                found.objects[name] = plain
        _plain_fields[parent_type] = found
    return found


@dataclass(frozen=True, slots=True)
class SelectionPlan:
    """How `execute_fields` takes one collected selection of an object type: each response
    key in the order of the selection, with the plain leaf or object it is (None: a field
    graphql-core executes)."""

    # Kept alive for as long as the plan: its id is the plan's key.
    grouped_field_set: dict[str, Any]
    fields: tuple[tuple[str, PlainLeaf | PlainObject | None, Any], ...]
    keys: dict[str, Any]


def selection_plan(
    parent_type: GraphQLObjectType, grouped_field_set: dict[str, Any]
) -> SelectionPlan:
    plain = plain_fields(parent_type)
    fields: list[tuple[str, PlainLeaf | PlainObject | None, Any]] = []
    for response_name, field_details_list in grouped_field_set.items():
        node = field_details_list[0].node
        name = node.name.value
        found = None if node.arguments else plain.leaves.get(name) or plain.objects.get(name)
        fields.append((response_name, found, field_details_list))
    return SelectionPlan(grouped_field_set, tuple(fields), dict.fromkeys(grouped_field_set))
