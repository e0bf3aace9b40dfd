"""How big an operation is once its fragments are expanded: its depth, its aliases and its
fields, measured in one pass over the document, each fragment visited once.

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

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from app.graphql_codes import LIMIT_EXCEEDED


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
