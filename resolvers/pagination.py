"""Relay connections over `domain.paging`: the arguments, cursors, and the page as edges.

A connection field takes `first: First = None, after: After = None, last: Last = None,
before: Before = None`, turns them into a `PageRequest` with `page_request`, asks its domain
query for the page (`domain.paging.fetch_page`), and returns `connection(...)` of it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import orjson
import strawberry
from graphql import GraphQLError
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

from domain.errors import DomainError
from domain.paging import Page, PageRequest, Position
from domain.totals import Total
from resolvers.inputs import parse_id
from schema.common import PageInfo
from schema.connections import Connection, Edge

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50

First = Annotated[
    int | None,
    strawberry.argument(
        description=f"Page size from the start (or from `after`), 1–{MAX_PAGE_SIZE}; "
        f"{DEFAULT_PAGE_SIZE} when neither `first` nor `last` is given."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(description="Only items after this cursor (a page's `endCursor`)."),
]
Last = Annotated[
    int | None,
    strawberry.argument(
        description=f"Page size from the end (or from `before`), 1–{MAX_PAGE_SIZE}."
    ),
]
Before = Annotated[
    str | None,
    strawberry.argument(description="Only items before this cursor (a page's `startCursor`)."),
]

Row = TypeVar("Row")
Node = TypeVar("Node")
AConnection = TypeVar("AConnection", bound=Connection[Any])


def bad_input(message: str, argument: str | None = None) -> GraphQLError:
    """BAD_USER_INPUT, naming the `argument` at fault when one is."""
    extensions = {"code": "BAD_USER_INPUT"}
    if argument is not None:
        extensions["argument"] = argument
    return GraphQLError(message, extensions=extensions)


def encode_cursor(list_key: str, position: Position) -> str:
    """A cursor: opaque to clients, it names the list (and order) it belongs to."""
    # orjson: compact JSON in a tenth of `json.dumps`'s time (50 cursors a page); any JSON
    # array decodes, so cursors made before (with spaces) stay valid.
    raw = orjson.dumps([list_key, position.sort_value, position.id])
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(list_key: str, cursor: str, argument: str) -> Position:
    try:
        key, sort_value, item_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if key != list_key or not isinstance(item_id, int) or isinstance(item_id, bool):
            raise ValueError(key)
        return Position(str(sort_value), item_id)
    except (ValueError, TypeError, binascii.Error):
        raise bad_input(f"`{argument}` is not a cursor of this list in this order.") from None


@contextmanager
def cursor_errors() -> Iterator[None]:
    """Around a page query: a cursor whose position is not of the list's types (one a
    client altered) is BAD_USER_INPUT naming the argument, not a server fault."""
    try:
        yield
    except DomainError as error:
        argument = error.errors[0].field or "after"
        raise bad_input(f"`{argument}` is not a cursor of this list in this order.") from None


def page_request(
    list_key: str, first: int | None, after: str | None, last: int | None, before: str | None
) -> PageRequest:
    """The page the arguments ask for; BAD_USER_INPUT for a size out of range, both sizes,
    or a cursor of another list or order."""
    if first is not None and last is not None:
        raise bad_input("Give `first` or `last`, not both.")
    size = last if last is not None else first if first is not None else DEFAULT_PAGE_SIZE
    if not 1 <= size <= MAX_PAGE_SIZE:
        name = "last" if last is not None else "first"
        raise bad_input(f"`{name}` must be between 1 and {MAX_PAGE_SIZE}.")
    return PageRequest(
        size,
        backwards=last is not None,
        after=decode_cursor(list_key, after, "after") if after is not None else None,
        before=decode_cursor(list_key, before, "before") if before is not None else None,
    )


ClientFilter = Annotated[
    strawberry.ID | None,
    strawberry.argument(description="Only this client's, also after it was deleted."),
]


async def client_list(
    info: Info[Any, Any],
    kind: type[AConnection],
    list_key: str,
    find: Callable[..., Awaitable[Page[Row]]],
    node: Callable[[Row], Node],
    client_id: str | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> AConnection:
    """A list of all clients' records, or of one client's (`ClientFilter`), that outlives the
    client: `find(conn, request, client_id=…, look_behind=…)` reads a page of it."""
    client = None
    if client_id is not None:
        client = parse_id(client_id, "Client")
        if client is None:  # an id of nothing: nothing of it
            page_request(list_key, first, after, last, before)  # still checked
            return kind(edges=[], page_info=PageInfo.empty())

    async def read(conn: Any, request: PageRequest, look_behind: bool) -> tuple[Page[Row], None]:
        return await find(conn, request, client_id=client, look_behind=look_behind), None

    return await paged_list(info, kind, list_key, read, node, first, after, last, before)


async def paged_list(
    info: Info[Any, Any],
    kind: type[AConnection],
    list_key: str,
    read: Callable[[Any, PageRequest, bool], Awaitable[tuple[Page[Row], Total | None]]],
    node: Callable[[Row], Node],
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> AConnection:
    """The page the arguments ask for, as a connection of `kind`: `read(conn, request,
    look_behind)` reads it, with its total or None."""
    request = page_request(list_key, first, after, last, before)
    async with info.context.connection() as conn:
        with cursor_errors():
            page, total = await read(conn, request, looks_behind(info, request))
    return connection(kind, page, list_key, node, total=total)


def selects(info: Info[Any, Any], *path: str) -> bool:
    """Whether the query asks this field for the field at `path` (GraphQL names), through
    fragments: what the resolver may leave out when not."""
    return any(True for _ in _selected(info, path))


def selects_without_arguments(info: Info[Any, Any], *path: str) -> bool:
    """Whether the query asks for the field at `path`, and never with arguments: what a
    resolver may fetch ahead with the field's defaults."""
    found = list(_selected(info, path))
    return bool(found) and not any(field.arguments for field in found)


def _selected(info: Info[Any, Any], path: tuple[str, ...]) -> Iterator[SelectedField]:
    for field in info.selected_fields:
        if isinstance(field, SelectedField):
            yield from _found(field.selections, *path)


def _found(selections: Iterable[Selection], *path: str) -> Iterator[SelectedField]:
    head, *rest = path
    for selection in selections:
        if isinstance(selection, SelectedField):
            if selection.name == head:
                yield from _found(selection.selections, *rest) if rest else (selection,)
        else:
            yield from _found(selection.selections, *path)


def looks_behind(info: Info[Any, Any], request: PageRequest) -> bool:
    """Whether the page must find out if items lie before its `after` (going forward) or
    after its `before` (going back): only when `pageInfo` asks, as it costs a query."""
    return selects(info, "pageInfo", "hasNextPage" if request.backwards else "hasPreviousPage")


def connection(
    kind: type[AConnection],
    page: Page[Row],
    list_key: str,
    node: Callable[[Row], Node],
    *,
    total: Total | None = None,
    **fields: Any,
) -> AConnection:
    """The page as a connection of type `kind` (with its own `fields`), each row shown as
    `node(row)`; with `total`, its `totalCount` and `totalCountIsEstimate`."""
    if total is not None:
        fields.update(total_count=total.count, total_count_is_estimate=total.is_estimate)
    edges = [
        Edge(cursor=encode_cursor(list_key, position), node=node(row))
        for row, position in zip(page.items, page.positions, strict=True)
    ]
    return kind(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        **fields,
    )
