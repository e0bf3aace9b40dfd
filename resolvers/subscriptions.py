"""Subscriptions: committed changes, pushed over a WebSocket as they commit (issue 20).

Every event is checked against the viewer as the matching query checks it: staff by the
permission that reads the object, the client area only for its own client and (a
sub-account) with the permission that reads it. The viewer is looked up again whenever its
access may have changed (app/subscriptions.py), so each event meets the current one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from domain.auth.permissions import ContactPermission, StaffPermission
from domain.auth.viewer import Viewer
from domain.automation import runs
from domain.billing import invoices
from domain.events import store
from domain.events.store import Topic
from resolvers.clients import clients_by_pks
from resolvers.context import Context
from resolvers.emails import emails_by_pks
from resolvers.inputs import parse_id
from resolvers.pagination import bad_input, selects
from resolvers.permissions import logged_in_viewer
from resolvers.tickets import tickets_by_pks
from schema.automation import AutomationRun
from schema.billing import Invoice
from schema.common import Forbidden
from schema.events import (
    AutomationRunEvent,
    ClientEvent,
    EmailEvent,
    Event,
    InvoiceEvent,
    TicketEvent,
)

# Whose client-area login may read a topic: any of them (None), those granted a permission,
# or none at all (STAFF_ONLY).
STAFF_ONLY = "STAFF_ONLY"
Load = Callable[[Context, int], Awaitable[Any]]


@dataclass(frozen=True)
class Feed:
    """One subscription: its topic, who reads it, and how its object is read."""

    topic: Topic
    staff: StaffPermission
    client_area: ContactPermission | str | None
    # The event type, and the name of its object's field.
    event_type: type[Event]
    object_field: str
    load: Load

    def refusal(self, viewer: Viewer) -> Forbidden | None:
        """Why the viewer may not read this topic at all, if it may not."""
        if viewer.is_staff:
            if viewer.has_staff_permission(self.staff):
                return None
            return Forbidden(f"This needs the staff permission {self.staff.value}.")
        if self.client_area == STAFF_ONLY:
            return Forbidden("This is for staff.")
        if isinstance(self.client_area, ContactPermission) and not viewer.has_client_permission(
            self.client_area
        ):
            return Forbidden(f"This needs the client-area permission {self.client_area.value}.")
        return None

    def allows(self, viewer: Viewer, event: store.Event) -> bool:
        """Whether the viewer may read this event's object, as its query would allow."""
        if self.refusal(viewer) is not None:
            return False
        if viewer.is_staff:
            return True
        return (
            not event.staff_only
            and event.client_id is not None
            and event.client_id == viewer.client_id
        )


async def _owned(fetch: Any, ctx: Context, pk: int) -> Any:
    """A `node` fetcher's object (they return (owner, object) pairs)."""
    (owned,) = await fetch(ctx, [pk])
    return None if owned is None else owned[1]


async def _client(ctx: Context, pk: int) -> Any:
    return await _owned(clients_by_pks, ctx, pk)


async def _ticket(ctx: Context, pk: int) -> Any:
    return await _owned(tickets_by_pks, ctx, pk)


async def _email(ctx: Context, pk: int) -> Any:
    return await _owned(emails_by_pks, ctx, pk)


async def _invoice(ctx: Context, pk: int) -> Invoice | None:
    async with ctx.connection() as conn:
        row = await invoices.get_invoice(conn, pk)
    return Invoice.build(row) if row else None


async def _run(ctx: Context, pk: int) -> AutomationRun | None:
    async with ctx.connection() as conn:
        row = await runs.get_run_by_id(conn, pk)
    return AutomationRun.build(row) if row else None


VIEW = StaffPermission.VIEW_CLIENTS
# The same permissions as `client`/`me`, `invoice`/`Client.invoices`, `Client.tickets`,
# `Client.emails` and `automationRuns`.
FEEDS = {
    Topic.CLIENT: Feed(Topic.CLIENT, VIEW, None, ClientEvent, "client", _client),
    Topic.INVOICE: Feed(
        Topic.INVOICE, VIEW, ContactPermission.INVOICES, InvoiceEvent, "invoice", _invoice
    ),
    Topic.TICKET: Feed(
        Topic.TICKET, VIEW, ContactPermission.TICKETS, TicketEvent, "ticket", _ticket
    ),
    Topic.EMAIL: Feed(
        Topic.EMAIL,
        StaffPermission.VIEW_EMAILS,
        ContactPermission.EMAILS,
        EmailEvent,
        "email",
        _email,
    ),
    Topic.AUTOMATION_RUN: Feed(
        Topic.AUTOMATION_RUN,
        StaffPermission.MANAGE_SETTINGS,
        STAFF_ONLY,
        AutomationRunEvent,
        "run",
        _run,
    ),
}


def _client_filter(viewer: Viewer, client_id: strawberry.ID | None) -> int | None:
    """Whose events: staff name a client or see all; the client area sees its own."""
    if viewer.is_staff:
        if client_id is None:
            return None
        return parse_id(client_id, "Client") or 0  # an id that is no client's matches none
    if client_id is not None and parse_id(client_id, "Client") != viewer.client_id:
        raise Forbidden("The client area receives the events of its own client only.")
    return viewer.client_id


def _after(after: strawberry.ID | None) -> int | None:
    if after is None:
        return None
    if not after.isdigit() or len(after) > 19:
        raise bad_input("`after` must be the id of an event received earlier.")
    return int(after)


async def events(
    info: Info[Context, None],
    topic: Topic,
    client_id: strawberry.ID | None,
    after: strawberry.ID | None,
) -> AsyncIterator[Event]:
    """The events of `topic` the viewer may read: those after `after` still kept, then each
    one as it commits."""
    ctx = info.context
    feed = FEEDS[topic]
    if not ctx.is_websocket:
        raise bad_input("Subscriptions are served over a WebSocket (graphql-transport-ws).")
    viewer = await logged_in_viewer(info)
    refusal = feed.refusal(viewer)
    if refusal is not None:
        raise refusal
    wanted = _client_filter(viewer, client_id)
    after_id = _after(after)
    with_object = selects(info, feed.object_field)
    settings = ctx.services.subscriptions
    with settings.hub.subscribe(
        topic, settings.queue_size, ctx.end_slow_connection, client_id=wanted
    ) as feed_in:
        replayed: set[int] = set()
        if after_id is not None:
            async with ctx.connection() as conn:
                missed = await store.events_after(
                    conn, after_id, limit=settings.replay_limit, topic=topic, client_id=wanted
                )
            replayed = {event.id for event in missed}
            for event in missed:
                shown = await _shown(ctx, feed, event, with_object)
                if shown is not None:
                    yield shown
        async for event in feed_in.events():
            if event.id in replayed:
                continue
            shown = await _shown(ctx, feed, event, with_object)
            if shown is not None:
                yield shown


async def _shown(ctx: Context, feed: Feed, event: store.Event, with_object: bool) -> Event | None:
    """The event as the current viewer may read it; None: not for it. What it is shown is
    made once per event for the process's sockets (resolvers/fanout.py): without its object,
    the same for every viewer; with it, the object read and built once per visibility."""
    viewer = await ctx.get_viewer()
    if viewer is None or not feed.allows(viewer, event):
        return None
    fanout = ctx.services.subscriptions.fanout
    if not with_object:
        return fanout.bare(event, lambda: _event(feed, event, None))
    ctx.refresh()
    found = await fanout.built(
        (event, _visibility(viewer)), lambda: feed.load(ctx, event.object_id)
    )
    return _event(feed, event, found)


def _visibility(viewer: Viewer) -> tuple[bool, frozenset[ContactPermission]]:
    """What an object is built after for a viewer: the staff side sees every field (its
    permissions are checked by the fields that need them, per socket); the client area
    sees what its permissions let it (Client's withheld fields)."""
    if viewer.is_staff:
        return True, frozenset()
    return False, viewer.client_permissions


def _event(feed: Feed, event: store.Event, found: Any) -> Event:
    return feed.event_type(
        id=strawberry.ID(str(event.id)),
        kind=event.kind,
        at=event.at,
        client_id=Event.client_gid(event),
        **{feed.object_field: found},
    )


ClientId = Annotated[
    strawberry.ID | None,
    strawberry.argument(
        description="Only this client's events (staff). The client area receives its own "
        "client's only."
    ),
]
After = Annotated[
    strawberry.ID | None,
    strawberry.argument(
        description="The id of the last event received: the events committed after it (still "
        "within the retention window) come first."
    ),
]


async def client_events(
    info: Info[Context, None], client_id: ClientId = None, after: After = None
) -> AsyncIterator[ClientEvent]:
    async for event in events(info, Topic.CLIENT, client_id, after):
        yield event  # type: ignore[misc]


async def invoice_events(
    info: Info[Context, None], client_id: ClientId = None, after: After = None
) -> AsyncIterator[InvoiceEvent]:
    async for event in events(info, Topic.INVOICE, client_id, after):
        yield event  # type: ignore[misc]


async def ticket_events(
    info: Info[Context, None], client_id: ClientId = None, after: After = None
) -> AsyncIterator[TicketEvent]:
    async for event in events(info, Topic.TICKET, client_id, after):
        yield event  # type: ignore[misc]


async def email_events(info: Info[Context, None], after: After = None) -> AsyncIterator[EmailEvent]:
    async for event in events(info, Topic.EMAIL, None, after):
        yield event  # type: ignore[misc]


async def automation_run_events(
    info: Info[Context, None], after: After = None
) -> AsyncIterator[AutomationRunEvent]:
    async for event in events(info, Topic.AUTOMATION_RUN, None, after):
        yield event  # type: ignore[misc]


@strawberry.type(description="Changes pushed as they commit, over a WebSocket.")
class Subscription:
    client_events = strawberry.subscription(
        resolver=client_events, description="Clients added, changed or deleted."
    )
    invoice_events = strawberry.subscription(
        resolver=invoice_events, description="Invoices created or changed."
    )
    ticket_events = strawberry.subscription(
        resolver=ticket_events, description="Tickets opened, replied to or changed."
    )
    email_events = strawberry.subscription(
        resolver=email_events, description="Emails queued, sent or failed."
    )
    automation_run_events = strawberry.subscription(
        resolver=automation_run_events, description="Automation runs started or finished (staff)."
    )
