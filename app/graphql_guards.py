"""GraphQL request checks beyond the schema: which operation to run, text no column can store,
and an `extensions.code` on every error, as Apollo clients expect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    GraphQLError,
    GraphQLSyntaxError,
    Node,
    ObjectFieldNode,
    OperationDefinitionNode,
    StringValueNode,
    VariableDefinitionNode,
)
from strawberry.extensions import SchemaExtension

from app.graphql_codes import (
    BAD_USER_INPUT,
    LIMIT_EXCEEDED,
    OPERATION_RESOLUTION_FAILURE,
    PARSE_FAILED,
    VALIDATION_FAILED,
)
from app.graphql_documents import Documents
from app.query_limits import QueryCost, QueryLimits
from domain.validation import storable_text

# How graphql-core's parser words the refusal of a document over the token limit.
_TOKEN_LIMIT_MESSAGE = "Document contains more than"  # noqa: S105 -- not a secret

UNSTORABLE_TEXT = "may not contain NUL characters or invalid Unicode."


def _code(error: GraphQLError, code: str) -> None:
    if not (error.extensions or {}).get("code"):
        error.extensions = {**(error.extensions or {}), "code": code}


class RequestGuards(SchemaExtension):
    """Validates the request's document, refusing before anything runs: a document of
    several operations without `operationName` (the GraphQL spec's GetOperation), one over
    the query limits (app/query_limits.py, before any validation rule), and text in
    arguments or variables that no text column can store (NUL, lone surrogates), per
    argument as BAD_USER_INPUT. Codes the validation errors (`code_errors` codes the
    others)."""

    def __init__(self, limits: QueryLimits, documents: Documents, cost: QueryCost) -> None:
        super().__init__()
        self._limits = limits
        self._documents = documents
        self._cost = cost

    async def on_validate(self) -> AsyncIterator[None]:
        # Errors set here spare Strawberry's own validation, which would run on the event
        # loop: the document's limits are checked first, and only a document within them is
        # validated (in the worker thread of app/graphql_documents.py).
        context = self.execution_context
        document = context.graphql_document
        assert document is not None
        refused = self._refused(document)
        if refused is None:
            errors = await self._documents.errors(
                context.schema._schema, document, context.validation_rules
            )
            # The cost walks the schema's fields: only a valid document has them all.
            refused = [*errors, *self._unstorable(document)] or self._too_costly(document)
        context.pre_execution_errors = refused
        yield
        for error in context.pre_execution_errors or ():
            _code(error, VALIDATION_FAILED)

    def _refused(self, document: DocumentNode) -> list[GraphQLError] | None:
        """The errors that stop a document before any validation rule walks it."""
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        # Strawberry runs the first operation when none is named; the spec requires an error.
        provided = getattr(self.execution_context, "_provided_operation_name", None)
        if len(operations) > 1 and provided is None:
            return [
                GraphQLError(
                    "Must provide operationName when the document holds several operations.",
                    extensions={"code": OPERATION_RESOLUTION_FAILURE},
                )
            ]
        return _checked(document, self._limits).too_big or None

    def _too_costly(self, document: DocumentNode) -> list[GraphQLError]:
        # Not remembered with the document: a page size may be a variable's value.
        context = self.execution_context
        return self._cost.refusals(document, context.schema._schema, context.variables or {})

    def _unstorable(self, document: DocumentNode) -> list[GraphQLError]:
        refused = [
            GraphQLError(f"`{path}` {UNSTORABLE_TEXT}", node, extensions=_bad_input(path))
            for path, node in _checked(document, self._limits).unstorable
        ]
        refused += [
            GraphQLError(f"`${path}` {UNSTORABLE_TEXT}", extensions=_bad_input(f"${path}"))
            for path in _unstorable_values(self.execution_context.variables or {})
        ]
        return refused


def code_errors(errors: list[GraphQLError]) -> None:
    """Give each error that has none the code of its kind. Validation errors are coded
    as they are found (RequestGuards); errors with a path and no code are unexpected ones,
    coded when they are masked."""
    for error in errors:
        if isinstance(error, GraphQLSyntaxError):
            too_long = _TOKEN_LIMIT_MESSAGE in error.message
            _code(error, LIMIT_EXCEEDED if too_long else PARSE_FAILED)
        elif not error.path:
            # Raised as the operation starts, e.g. a variable of the wrong type.
            _code(error, BAD_USER_INPUT)


def _bad_input(path: str) -> dict[str, Any]:
    return {"code": BAD_USER_INPUT, "argument": path}


@dataclass(frozen=True)
class _Checked:
    """What is wrong with a document whatever its variables: the limits it goes over, and
    its string literals that no text column can store (with their argument paths)."""

    too_big: list[GraphQLError]
    unstorable: list[tuple[str, StringValueNode]]


# The documents last checked. Strawberry's parser cache hands the same document object to
# every request of the same text, so a document is checked once, not on every request;
# keyed by the object's id, and valid only while it is that very object.
_CHECKED: dict[int, tuple[DocumentNode, _Checked]] = {}
_CHECKED_KEPT = 256


def _checked(document: DocumentNode, limits: QueryLimits) -> _Checked:
    known = _CHECKED.get(id(document))
    if known is not None and known[0] is document:
        return known[1]
    too_big = limits.refusals(document)
    found = _Checked(too_big, [] if too_big else _unstorable_literals(document))
    if len(_CHECKED) >= _CHECKED_KEPT:
        _CHECKED.pop(next(iter(_CHECKED)))
    _CHECKED[id(document)] = (document, found)
    return found


def _unstorable_literals(document: DocumentNode) -> list[tuple[str, StringValueNode]]:
    """(argument path, node) of each string literal no text column can store."""
    found: list[tuple[str, StringValueNode]] = []
    # An explicit stack: a document may nest as deep as its token limit allows.
    stack: list[tuple[Node, str]] = [(document, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, StringValueNode):
            if not storable_text(node.value):
                found.append((path, node))
            continue
        if isinstance(node, ArgumentNode | ObjectFieldNode):
            path = f"{path}.{node.name.value}" if path else node.name.value
        elif isinstance(node, VariableDefinitionNode):
            path = f"${node.variable.name.value}"
        for key in node.keys:
            child = getattr(node, key, None)
            children = child if isinstance(child, tuple | list) else (child,)
            stack.extend((c, path) for c in children if isinstance(c, Node))
    return found


def _unstorable_values(variables: dict[str, Any]) -> list[str]:
    """Paths of the strings in `variables` that no text column can store."""
    found = []
    stack: list[tuple[Any, str]] = [(value, name) for name, value in variables.items()]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if not storable_text(value):
                found.append(path)
        elif isinstance(value, dict):
            stack.extend((v, f"{path}.{k}") for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(value))
    return found
