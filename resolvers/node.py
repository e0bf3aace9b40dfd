"""Relay `node(id)` and `nodes(ids)`: any object by its global id, as far as the viewer may
read it through the object's own root field.

Every type implementing `Node` has one entry in `NODE_TYPES`: the permission reading it takes
(a staff permission; for client-area logins, a permission of theirs, and then only their own
client's objects) and the function that fetches a batch of them by row id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from domain.auth.permissions import ContactPermission, StaffPermission
from domain.auth.viewer import Viewer
from resolvers.clients import clients_by_pks
from resolvers.contacts import contacts_by_pks
from resolvers.context import Context
from resolvers.emails import emails_by_pks
from resolvers.pagination import MAX_PAGE_SIZE, bad_input
from resolvers.permissions import logged_in
from resolvers.quotes import quotes_by_pks
from resolvers.tickets import messages_by_pks, tickets_by_pks
from schema.common import Forbidden
from schema.ids import split_id
from schema.node import Node, Owned


@dataclass(frozen=True)
class NodeType:
    """How `node` reaches the objects of one type."""

    # What staff need to read it.
    staff: StaffPermission
    # What a client-area login needs to read its own client's ones (None: nothing more).
    client_area: ContactPermission | None
    # The objects of these row ids, in their order (None: no such object), one query.
    fetch: Callable[[Context, Sequence[int]], Awaitable[Sequence[Owned | None]]]

    def refusal(self, viewer: Viewer) -> GraphQLError | None:
        """Why the viewer may not read objects of this type at all, if it may not."""
        if viewer.is_staff:
            if viewer.has_staff_permission(self.staff):
                return None
            return Forbidden(f"This needs the staff permission {self.staff.value}.")
        if self.client_area is None or viewer.has_client_permission(self.client_area):
            return None
        return Forbidden(f"This needs the client-area permission {self.client_area.value}.")


# The same permissions as `client`/`me`, `contact`/`Client.contacts`, `Client.emails` and
# `Client.tickets`, `Client.quotes`.
NODE_TYPES: dict[str, NodeType] = {
    "Client": NodeType(StaffPermission.VIEW_CLIENTS, None, clients_by_pks),
    "Contact": NodeType(StaffPermission.VIEW_CLIENTS, ContactPermission.CONTACTS, contacts_by_pks),
    "Email": NodeType(StaffPermission.VIEW_EMAILS, ContactPermission.EMAILS, emails_by_pks),
    "Ticket": NodeType(StaffPermission.VIEW_CLIENTS, ContactPermission.TICKETS, tickets_by_pks),
    "Quote": NodeType(StaffPermission.VIEW_CLIENTS, ContactPermission.QUOTES, quotes_by_pks),
    "TicketMessage": NodeType(
        StaffPermission.VIEW_CLIENTS, ContactPermission.TICKETS, messages_by_pks
    ),
}


async def find_nodes(ctx: Context, ids: Sequence[str]) -> list[Any]:
    """For each id its object, None (malformed, another type's, absent, or of another client
    than a client-area viewer's own), or the FORBIDDEN error of a type the viewer may not
    read. One query per type asked for."""
    viewer = await ctx.get_viewer()
    assert viewer is not None  # the root field's permission class saw to that
    found: list[Any] = [None] * len(ids)
    wanted: dict[str, list[tuple[int, int]]] = {}  # type name: [(position in ids, row id)]
    for position, value in enumerate(ids):
        parts = split_id(value)
        if parts is not None and parts[0] in NODE_TYPES:
            wanted.setdefault(parts[0], []).append((position, parts[1]))

    async def fetch(node_type: NodeType, positions: list[tuple[int, int]]) -> None:
        refusal = node_type.refusal(viewer)
        if refusal is not None:
            for position, _ in positions:
                found[position] = refusal
            return
        objects = await node_type.fetch(ctx, [pk for _, pk in positions])
        for (position, _), owned in zip(positions, objects, strict=True):
            if owned is not None and (viewer.is_staff or owned[0] == viewer.client_id):
                found[position] = owned[1]

    await asyncio.gather(*(fetch(NODE_TYPES[name], of_type) for name, of_type in wanted.items()))
    return found


async def node(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
) -> Node | None:
    (found,) = await find_nodes(info.context, [id])
    if isinstance(found, GraphQLError):
        raise found
    return found  # type: ignore[no-any-return]


async def nodes(
    info: Info[Context, None],
    ids: Annotated[
        list[strawberry.ID],
        strawberry.argument(description=f"Global ids, at most {MAX_PAGE_SIZE}."),
    ],
) -> list[Node | None]:
    if len(ids) > MAX_PAGE_SIZE:
        raise bad_input(f"At most {MAX_PAGE_SIZE} ids at once.")
    # A FORBIDDEN error in the list is reported at its item (`nodes.3`), which is null.
    return await find_nodes(info.context, ids)


@strawberry.type(description="Root fields of Relay object identification.")
class Queries:
    node: Node | None = strawberry.field(
        resolver=node,
        extensions=logged_in(),
        description="Any object by its global id; null when there is none the viewer may "
        "read (FORBIDDEN when its type needs a permission the viewer lacks).",
    )
    nodes: list[Node | None] = strawberry.field(
        resolver=nodes,
        extensions=logged_in(),
        description="Objects by global id, in the same order; null for each `node` would "
        "return null for, with a FORBIDDEN error at the item of a type the viewer may not read.",
    )
