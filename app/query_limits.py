"""How big an operation is once its fragments are expanded: its depth, its aliases and its
fields, measured in one pass over the document, each fragment visited once; and how many
objects it may return (`QueryCost`), its lists' sizes multiplied through their nesting.

A fragment may spread another twice, and that one the next twice: forty such fragments fit
in a kilobyte and expand to 2^40 fields. Strawberry's depth and alias limiters walk each
spread again (0.4 s at 16 levels, doubling with each), so a small anonymous request could
hold a process's CPU for hours. Here each fragment's size is computed once and reused
wherever it is spread, so the check costs in proportion to the document; an operation
over a limit is refused before any validation rule or resolver runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
)

from app.graphql_codes import LIMIT_EXCEEDED
from domain.tickets.attachments import MAX_ATTACHMENTS


@dataclass(frozen=True)
class Shape:
    """An expanded selection: its fields (each spread counted as often as it is spread),
    the aliases among them, and its depth (as Strawberry counts it: a leaf is 0, and
    introspection fields, which GraphiQL's own query nests deep, do not count)."""

    fields: int = 0
    aliases: int = 0
    depth: int = 0


@dataclass(frozen=True)
class QueryLimits:
    max_depth: int
    max_aliases: int
    max_fields: int

    def refusals(self, document: DocumentNode) -> list[GraphQLError]:
        """One error per limit an operation of `document` goes over."""
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        sizes = _FragmentSizes(fragments)
        errors = []
        for operation in document.definitions:
            if isinstance(operation, OperationDefinitionNode):
                shape = sizes.of(operation.selection_set)
                name = operation.name.value if operation.name else "anonymous"
                errors += self._over(shape, name, operation)
        return errors

    def _over(
        self, shape: Shape, name: str, operation: OperationDefinitionNode
    ) -> list[GraphQLError]:
        found = []
        if shape.depth > self.max_depth:
            found.append(f"'{name}' exceeds maximum operation depth of {self.max_depth}")
        if shape.aliases > self.max_aliases:
            found.append(f"{shape.aliases:,} aliases found. Allowed: {self.max_aliases}")
        if shape.fields > self.max_fields:
            found.append(
                f"'{name}' selects {shape.fields:,} fields once its fragments are expanded; "
                f"at most {self.max_fields:,} are allowed"
            )
        return [GraphQLError(m, operation, extensions={"code": LIMIT_EXCEEDED}) for m in found]


class _FragmentSizes:
    """The shapes of selection sets, with each fragment's remembered once measured."""

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments
        self._known: dict[str, Shape] = {}
        # Fragments being measured: a spread of one of them is a cycle, which validation
        # reports (NoFragmentCyclesRule); here it counts as nothing, so the walk ends.
        self._open: set[str] = set()

    def of(self, selection_set: SelectionSetNode) -> Shape:
        fields = aliases = depth = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                inner = self.of(selection.selection_set) if selection.selection_set else Shape()
                fields += 1 + inner.fields
                aliases += (selection.alias is not None) + inner.aliases
                if selection.selection_set and not selection.name.value.startswith("__"):
                    depth = max(depth, 1 + inner.depth)
                continue
            if isinstance(selection, InlineFragmentNode):
                inner = self.of(selection.selection_set)
            else:
                assert isinstance(selection, FragmentSpreadNode)
                inner = self._fragment(selection.name.value)
            fields += inner.fields
            aliases += inner.aliases
            depth = max(depth, inner.depth)
        return Shape(fields, aliases, depth)

    def _fragment(self, name: str) -> Shape:
        known = self._known.get(name)
        if known is not None:
            return known
        fragment = self._fragments.get(name)
        if fragment is None or name in self._open:
            return Shape()  # an unknown fragment: validation names it
        self._open.add(name)
        shape = self._known[name] = self.of(fragment.selection_set)
        self._open.discard(name)
        return shape


# A list of objects with neither paging arguments nor a cap of its own (an invoice's lines,
# a ticket's messages) is counted as this many items.
ASSUMED_LIST_SIZE = 20
# Lists whose size the domain bounds, by (type, field): counted at that bound.
BOUNDED_LISTS = {("TicketMessage", "attachments"): MAX_ATTACHMENTS}


@dataclass(frozen=True)
class QueryCost:
    """How many objects an operation may return, its list sizes multiplied through its
    nesting: `clients(first: 200) { edges { node { invoices { id } } } }` may return
    200 + 200 × 200 (each client's capped invoices). A list's size is its `first` or `last`
    (a literal or a variable's value), else its argument's default, else `default_page` for
    a connection; a connection's `edges` repeat its size, and other lists count their bound
    (`BOUNDED_LISTS`) or `ASSUMED_LIST_SIZE`. Introspection (`__schema`, `__type`) costs nothing."""

    max_cost: int
    default_page: int

    def refusals(
        self, document: DocumentNode, schema: GraphQLSchema, variables: Mapping[str, Any]
    ) -> list[GraphQLError]:
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        costs = _Costs(schema, fragments, variables, self.default_page)
        errors = []
        for operation in document.definitions:
            if not isinstance(operation, OperationDefinitionNode):
                continue
            root = schema.get_root_type(operation.operation)
            cost = costs.of(operation.selection_set, root) if root else 0
            if cost > self.max_cost:
                name = operation.name.value if operation.name else "anonymous"
                message = (
                    f"'{name}' may return {cost:,} objects (each list's size multiplied "
                    f"through its nesting); at most {self.max_cost:,} are allowed: ask for "
                    "smaller pages (`first`)"
                )
                errors.append(GraphQLError(message, operation, extensions={"code": LIMIT_EXCEEDED}))
        return errors


class _Costs:
    """The cost of selection sets at one item each (a cost is linear in how many times its
    selection is repeated), with each fragment's remembered once measured."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        default_page: int,
    ) -> None:
        self._schema = schema
        self._fragments = fragments
        self._variables = variables
        self._default_page = default_page
        self._known: dict[str, int] = {}
        self._open: set[str] = set()

    def of(self, selection_set: SelectionSetNode, parent: GraphQLNamedType) -> int:
        cost = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                cost += self._field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                kind = self._schema.get_type(condition.name.value) if condition else parent
                cost += self.of(selection.selection_set, kind) if kind else 0
            else:
                assert isinstance(selection, FragmentSpreadNode)
                cost += self._fragment(selection.name.value)
        return cost

    def _field(self, node: FieldNode, parent: GraphQLNamedType) -> int:
        name = node.name.value
        fields = getattr(parent, "fields", None)
        if name.startswith("__") or not fields or name not in fields:
            return 0  # introspection, or a field validation reports
        definition = fields[name]
        of_type = definition.type.of_type if is_non_null_type(definition.type) else definition.type
        is_list = is_list_type(of_type)
        named = get_named_type(definition.type)
        paged = "first" in definition.args or "last" in definition.args
        if paged:
            size = self._page_size(node, definition)
        elif is_list and "pageInfo" in fields:
            return self._inner(node, named)  # a connection's edges: its size counted already
        elif is_list and not is_leaf_type(named):
            size = BOUNDED_LISTS.get((parent.name, name), ASSUMED_LIST_SIZE)
        else:
            return self._inner(node, named)
        return size + size * self._inner(node, named)

    def _inner(self, node: FieldNode, named: GraphQLNamedType) -> int:
        return self.of(node.selection_set, named) if node.selection_set else 0

    def _page_size(self, node: FieldNode, definition: GraphQLField) -> int:
        given = {argument.name.value: argument.value for argument in node.arguments or ()}
        for name in ("first", "last"):
            argument = given.get(name)
            value: Any = None
            if isinstance(argument, VariableNode):
                value = self._variables.get(argument.name.value)
            elif isinstance(argument, IntValueNode):
                value = int(argument.value)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(value, 0)
        default = definition.args.get("first")
        if default is not None and isinstance(default.default_value, int):
            return default.default_value
        return self._default_page

    def _fragment(self, name: str) -> int:
        known = self._known.get(name)
        if known is not None:
            return known
        fragment = self._fragments.get(name)
        if fragment is None or name in self._open:
            return 0  # unknown, or a cycle: validation reports it
        kind = self._schema.get_type(fragment.type_condition.name.value)
        self._open.add(name)
        cost = self._known[name] = self.of(fragment.selection_set, kind) if kind else 0
        self._open.discard(name)
        return cost
