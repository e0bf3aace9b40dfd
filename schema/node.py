"""The Relay `Node` interface: every object clients may refetch by its id alone."""

from __future__ import annotations

import strawberry


@strawberry.interface(
    description="An object with a global id; `node(id)` and `nodes(ids)` fetch it again."
)
class Node:
    id: strawberry.ID = strawberry.field(description="The object's opaque global id.")


# An object `node` may return, with the row id of the client it belongs to (None: to no
# client), by which a client-area viewer is kept to its own.
Owned = tuple[int | None, Node]
