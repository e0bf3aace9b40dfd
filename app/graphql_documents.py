"""GraphQL documents parsed and validated in one worker thread, not on the event loop, and
remembered by their text, so that a document sent again is neither parsed nor validated again.

Parsing and validating are CPU work with nothing to wait for: on the event loop, one request
doing them holds every other request of the process, `/healthz` included, until it is done.
Within the limits a document may still take a while: the parser reads a 1 MiB comment or
string character by character (0.2 s), and graphql-core's OverlappingFieldsCanBeMergedRule
compares the fields of one name pairwise (990 `viewer { kind }` at one level, 16 KB, take
0.7 s). In a thread, the event loop takes the interpreter back within its switch interval
(`sys.getswitchinterval()`, 5 ms) whenever it has something to do. One thread, not a pool:
it is then the only one the event loop shares the interpreter with, and two cores would not
validate faster in two threads anyway. A request whose time budget runs out while its
document waits for the thread is answered at once, and the work it queued is dropped.
"""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from app.collector import collected_young

_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graphql-documents")

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


async def _in_worker(work: Callable[..., T], *args: Any) -> T:
    # Cancelling the awaiting request (its time budget) cancels work not yet started.
    return await asyncio.get_running_loop().run_in_executor(_WORKER, functools.partial(work, *args))


class _Remembered(Generic[K, V]):
    """The last `size` values used, by key; read and written on the event loop only."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._values.get(key)
        if value is not None:
            self._values.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._values[key] = value
        if len(self._values) > self._size:
            self._values.popitem(last=False)


class Documents:
    """One schema's parsed documents and their validation errors, the last `size` of each
    (Strawberry's ParserCache and ValidationCache, but off the event loop)."""

    def __init__(self, size: int = 256) -> None:
        self._parsed: _Remembered[tuple[str, int | None], DocumentNode] = _Remembered(size)
        # By the document object (the parsed ones above are handed out again and again),
        # which the entry keeps alive, so its id is not taken by another meanwhile.
        self._errors: _Remembered[
            tuple[int, tuple[type[ASTValidationRule], ...]],
            tuple[DocumentNode, list[GraphQLError]],
        ] = _Remembered(size)

    async def parsed(self, query: str, max_tokens: int | None) -> DocumentNode:
        """`query` parsed; a GraphQLSyntaxError if it is not a document (not remembered)."""
        key = (query, max_tokens)
        document = self._parsed.get(key)
        if document is None:
            document = await _in_worker(functools.partial(parse, max_tokens=max_tokens), query)
            self._parsed.put(key, document)
        return document

    async def errors(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        rules: Sequence[type[ASTValidationRule]],
    ) -> list[GraphQLError]:
        """What graphql-core's rules, Strawberry's and `rules` find wrong with `document`."""
        key = (id(document), tuple(rules))
        known = self._errors.get(key)
        if known is not None and known[0] is document:
            return known[1]
        errors: list[GraphQLError] = await _in_worker(
            collected_young, functools.partial(validate_document, schema, document, key[1])
        )
        self._errors.put(key, (document, errors))
        return errors


class ParseOffLoop(SchemaExtension):
    """Parses the request's document with `Documents.parsed` (RequestGuards validates it)."""

    def __init__(self, documents: Documents) -> None:
        super().__init__()
        self._documents = documents

    async def on_parse(self) -> AsyncIterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            max_tokens = context.parse_options.get("max_tokens")
            context.graphql_document = await self._documents.parsed(context.query, max_tokens)
        yield
