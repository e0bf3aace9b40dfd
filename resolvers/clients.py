"""Root queries and mutations of clients (SPEC 1.1–1.5, 1.8)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain.affiliates import services as affiliates
from domain.auth.permissions import StaffPermission
from domain.auth.viewer import Viewer
from domain.clients import merge, models, queries, services
from domain.clients.models import ClientStatus
from domain.contacts import services as contact_services
from domain.emails import log as email_log
from domain.totals import Total
from resolvers.context import Context
from resolvers.inputs import existing_id, parse_id, provided_fields
from resolvers.mutation import perform
from resolvers.pagination import (
    After,
    Before,
    First,
    Last,
    connection,
    cursor_errors,
    looks_behind,
    page_request,
    selects,
    selects_without_arguments,
)
from resolvers.permissions import (
    client_area,
    input_fields_needing,
    require_two_factor_override,
    staff,
)
from schema.client_inputs import AddClientInput, ClientOrder, UpdateClientInput
from schema.client_presentation import (
    BILLING_SETTINGS,
    ClientPresentation,
    may_read_emails,
    withheld_client_fields,
)
from schema.clients import (
    Client,
    ClientConnection,
    ClientPayload,
    OrderDirection,
)
from schema.common import OkPayload
from schema.nesting import NESTED_LIST_CAP
from schema.node import Owned


async def presentation(ctx: Context) -> ClientPresentation:
    """How this request shows clients; made once per request, from the settings and
    currencies the process keeps (`ReferenceCache`)."""
    if ctx.client_presentation is None:
        viewer = await ctx.get_viewer()
        reference = ctx.services.reference
        settings = await reference.general_settings(ctx.connection)
        currencies = await reference.currencies(ctx.connection)
        ctx.client_presentation = ClientPresentation(
            display_format=settings.client_display_format,
            currencies=currencies,
            viewer_is_staff=viewer is not None and viewer.is_staff,
            withheld_fields=withheld_client_fields(viewer),
        )
    return ctx.client_presentation


async def clients_by_pks(ctx: Context, pks: Sequence[int]) -> list[Owned | None]:
    """`client`, `node`/`nodes`: clients by row id, each its own owner. The id of a client
    merged away leads to the client it went into (SPEC 7.1)."""
    rows = await ctx.loaders.client_by_id.load_many(pks)
    gone = [pk for pk, row in zip(pks, rows, strict=True) if row is None]
    if gone:
        async with ctx.connection() as conn:
            into = await merge.merged_into(conn, gone)
        targets = list(dict.fromkeys(into.values()))
        kept = dict(zip(targets, await ctx.loaders.client_by_id.load_many(targets), strict=True))
        rows = [
            kept[into[pk]] if row is None and pk in into else row
            for pk, row in zip(pks, rows, strict=True)
        ]
    if not any(rows):
        return [None] * len(rows)
    shown = await presentation(ctx)
    return [(row.id, Client.build(row, shown)) if row else None for row in rows]


async def client(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The client's id.")],
) -> Client | None:
    client_id = parse_id(id, "Client")
    if client_id is None:
        return None
    (found,) = await clients_by_pks(info.context, [client_id])
    return None if found is None else found[1]  # type: ignore[return-value]


async def clients(
    info: Info[Context, None],
    first: First = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
    search: Annotated[
        str | None,
        strawberry.argument(
            description="Part of a name, company or email (any case). A whole email address "
            "(name@domain.tld) finds the client with exactly that address."
        ),
    ] = None,
    status: Annotated[
        list[ClientStatus] | None, strawberry.argument(description="Only these statuses.")
    ] = None,
    order_by: Annotated[
        ClientOrder | None, strawberry.argument(description="Sort order; by id by default.")
    ] = None,
) -> ClientConnection:
    order = order_by or ClientOrder()
    field = queries.ClientOrderField(order.field)
    # Cursors name the order they were made in: a position means nothing in another order.
    list_key = f"clients/{field.value}"
    request = page_request(list_key, first, after, last, before)
    client_filter = queries.ClientFilter(search=search, statuses=tuple(status or ()))
    ctx = info.context
    # What is asked for comes with the page, on one connection: the total, and the email logs
    # when the viewer may read them (otherwise each `emails` field checks and loads on its own,
    # as it does for a single client). The viewer is loaded before taking the connection.
    with_total = selects(info, "totalCount") or selects(info, "totalCountIsEstimate")
    # Fetched with the page only as `emails` answers without arguments (`first` the cap).
    with_emails = may_read_emails(await ctx.get_viewer()) and selects_without_arguments(
        info, "edges", "node", "emails"
    )
    async with ctx.connection() as conn:
        with cursor_errors():
            # With the total, the page and the count share one scan of a rare filter's index.
            descending = order.direction is OrderDirection.DESC
            look_behind = looks_behind(info, request)
            total: Total | None = None
            if with_total:
                page, total = await queries.find_and_count_clients(
                    conn,
                    client_filter,
                    request,
                    order=field,
                    descending=descending,
                    look_behind=look_behind,
                )
            else:
                page = await queries.find_clients(
                    conn,
                    client_filter,
                    request,
                    order=field,
                    descending=descending,
                    look_behind=look_behind,
                )
        shown = await presentation(ctx)
        emails = (
            await email_log.sent_emails_by_client(
                conn, [row.id for row in page.items], per_client=NESTED_LIST_CAP
            )
            if with_emails and page.items
            else {}
        )
    return connection(
        ClientConnection,
        page,
        list_key,
        lambda row: Client.build(row, shown, sent_emails=emails.get(row.id)),
        filter=client_filter,
        counted=total,
    )


async def me(info: Info[Context, None]) -> Client | None:
    viewer = await info.context.get_viewer()
    if viewer is None or viewer.client_id is None:
        return None
    async with info.context.connection() as conn:
        row = await queries.get_client(conn, viewer.client_id)
    return Client.build(row, await presentation(info.context)) if row else None


async def _client_payload(ctx: Context, row: models.Client) -> ClientPayload:
    return ClientPayload(client=Client.build(row, await presentation(ctx)))


async def add_client(
    info: Info[Context, None],
    input: Annotated[AddClientInput, strawberry.argument(description="The new client.")],
    send_welcome_email: Annotated[
        bool, strawberry.argument(description="Queue the Client Signup Email.")
    ] = True,
) -> ClientPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> models.Client:
        client = await services.add_client(
            conn,
            provided_fields(input, exclude=("password", "referral_code")),
            password=input.password or None,
            staff_id=viewer.staff_id,
            send_welcome_email=send_welcome_email,
            client_area_url=info.context.services.client_area_url,
        )
        if input.referral_code:
            # In the same transaction: an unknown code refuses the client too.
            await affiliates.record_referral(conn, client.id, input.referral_code)
        return client

    return await perform(
        info,
        work,
        ClientPayload,
        present=functools.partial(_client_payload, info.context),
        hashing_password=bool(input.password),
    )


async def update_client(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The client's id.")],
    input: Annotated[UpdateClientInput, strawberry.argument(description="The fields to change.")],
) -> ClientPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> services.ClientUpdate:
        client_id = existing_id(id, "Client")
        if input.password:
            current = await queries.get_client(conn, client_id)
            owner = current.owner_login_id if current else None
            await require_two_factor_override(viewer, conn, owner, in_input=True)
        return await services.update_client(
            conn,
            client_id,
            provided_fields(input, exclude=("password",)),
            password=input.password or None,
            staff_id=viewer.staff_id,
        )

    return await perform(
        info,
        work,
        ClientPayload,
        present=functools.partial(present_update, info.context),
        hashing_password=bool(input.password),
    )


async def present_update(ctx: Context, update: services.ClientUpdate) -> ClientPayload:
    """The payload of a profile change, once committed."""
    client = Client.build(update.client, await presentation(ctx))
    return ClientPayload(client=client, warnings=update.warnings)


async def set_client_status(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The client's id.")],
    status: Annotated[ClientStatus, strawberry.argument(description="The new status.")],
) -> ClientPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> models.Client:
        return await services.set_client_status(
            conn, existing_id(id, "Client"), status, staff_id=viewer.staff_id
        )

    return await perform(
        info, work, ClientPayload, present=functools.partial(_client_payload, info.context)
    )


async def set_default_billing_contact(
    info: Info[Context, None],
    client_id: Annotated[strawberry.ID, strawberry.argument(description="The client's id.")],
    contact_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(description="One of its contacts; null addresses the client again."),
    ] = None,
) -> ClientPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> models.Client:
        client = existing_id(client_id, "Client", "client_id")
        contact = (
            existing_id(contact_id, "Contact", "contact_id") if contact_id is not None else None
        )
        await contact_services.set_billing_contact(conn, client, contact, staff_id=viewer.staff_id)
        row = await queries.get_client(conn, client)
        assert row is not None
        return row

    return await perform(
        info, work, ClientPayload, present=functools.partial(_client_payload, info.context)
    )


async def send_client_email(
    info: Info[Context, None],
    client_id: Annotated[strawberry.ID, strawberry.argument(description="The client's id.")],
    template: Annotated[
        str, strawberry.argument(description="A client email template, e.g. client_signup.")
    ],
) -> OkPayload:
    """Email the client (and the contacts who tick the template's category) now."""

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> OkPayload:
        await services.send_client_email(
            conn,
            existing_id(client_id, "Client", "client_id"),
            template,
            staff_id=viewer.staff_id,
            client_area_url=info.context.services.client_area_url,
        )
        return OkPayload(ok=True)

    return await perform(info, work, OkPayload)


# The billing part of a client: its billing settings (SPEC 1.5) and the currency its credit
# and invoices are in (1.6). It is MANAGE_BILLING's, as setClientPaymentMethod is, not part of
# editing the profile.
CLIENT_BILLING_FIELDS = input_fields_needing(
    StaffPermission.MANAGE_BILLING, UpdateClientInput, "currency", *BILLING_SETTINGS
)


@strawberry.type(description="Root fields of clients: what can be read.")
class Queries:
    clients: ClientConnection = strawberry.field(
        resolver=clients,
        extensions=staff(StaffPermission.VIEW_CLIENTS),
        description="Clients, searched, filtered, sorted and paged (staff).",
    )
    client: Client | None = strawberry.field(
        resolver=client,
        extensions=staff(StaffPermission.VIEW_CLIENTS),
        description="One client (staff); the id of a client merged away gives the kept one.",
    )
    me: Client | None = strawberry.field(
        resolver=me,
        extensions=client_area(),
        description="The client-area viewer's own client account.",
    )


@strawberry.type(description="Root fields of clients: what can be changed.")
class Mutations:
    add_client: ClientPayload = strawberry.field(
        resolver=add_client,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="Add a client; queues the welcome email unless told not to.",
    )
    update_client: ClientPayload = strawberry.field(
        resolver=update_client,
        extensions=staff(StaffPermission.EDIT_CLIENTS, input_fields=CLIENT_BILLING_FIELDS),
        description="Change a client's profile fields and flags; omitted fields stay. The "
        "currency and the billing flags (the payment method too) need MANAGE_BILLING, and "
        "the password of a login with two-factor on MANAGE_LOGIN_SECURITY.",
    )
    set_client_status: ClientPayload = strawberry.field(
        resolver=set_client_status,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="Set ACTIVE, INACTIVE or CLOSED; CLOSED ends the client's sessions.",
    )
    set_default_billing_contact: ClientPayload = strawberry.field(
        resolver=set_default_billing_contact,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="Address the client's invoices to one of its contacts (null: the client).",
    )
    send_client_email: OkPayload = strawberry.field(
        resolver=send_client_email,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="Send the client a client email template now, with contact copies.",
    )
