"""Root queries and mutations of contacts, for staff and the client area (SPEC 2)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth.permissions import ContactPermission, StaffPermission
from domain.auth.viewer import Viewer
from domain.contacts import invitations, services
from domain.errors import DomainError
from resolvers.context import Context
from resolvers.inputs import existing_id, parse_id, provided_fields
from resolvers.mutation import perform
from resolvers.permissions import client_area, require_two_factor_override, staff
from schema.common import OkPayload, user_errors
from schema.contacts import Contact, ContactInput, ContactPayload
from schema.node import Owned

ContactId = Annotated[strawberry.ID, strawberry.argument(description="The contact's id.")]
ClientId = Annotated[strawberry.ID, strawberry.argument(description="The client's id.")]
Fields = Annotated[
    ContactInput, strawberry.argument(description="The contact's fields (changes on update).")
]


def contact_values(input: ContactInput) -> dict[str, Any]:
    """The given fields as the domain takes them; preferences as {CATEGORY: ticked}."""
    values = provided_fields(input, exclude=("email_preferences",))
    if input.email_preferences:
        values["email_preferences"] = {
            category.upper(): ticked
            for category, ticked in provided_fields(input.email_preferences).items()
        }
    return values


async def contacts_by_pks(ctx: Context, pks: Sequence[int]) -> list[Owned | None]:
    """`node`/`nodes`: contacts by row id, with their client."""
    rows = await ctx.loaders.contact_by_id.load_many(pks)
    return [(row.client_id, Contact.build(row)) if row else None for row in rows]


async def contact(info: Info[Context, None], id: ContactId) -> Contact | None:
    contact_id = parse_id(id, "Contact")
    if contact_id is None:
        return None
    row = await info.context.loaders.contact_by_id.load(contact_id)
    return Contact.build(row) if row else None


def _reach(viewer: Viewer | None) -> dict[str, Any]:
    """What the viewer's contact changes may touch: staff any client's contacts and every
    login; the client area only its own client's, and only the account holder (not a
    sub-account) manages sub-accounts and grants permissions."""
    assert viewer is not None  # the root field's permission class saw to that
    if viewer.is_staff:
        return {"staff_id": viewer.staff_id, "may_grant_access": True, "client_scope": None}
    return {
        "staff_id": None,
        "may_grant_access": viewer.contact_id is None,
        "client_scope": viewer.client_id,
    }


def _logins(ctx: Context, reach: dict[str, Any]) -> dict[str, Any]:
    """How sub-accounts get their logins: from the client area only by invitation."""
    return {
        "client_area": reach["client_scope"] is not None,
        "client_area_url": ctx.services.client_area_url,
    }


def _hashes(reach: dict[str, Any], input: ContactInput) -> bool:
    """Whether the change hashes a password: staff giving one (the client area may not)."""
    return bool(input.password) and reach["client_scope"] is None


async def _add(
    info: Info[Context, None], client_id: str | None, input: ContactInput
) -> ContactPayload:
    """Add to `client_id` (staff), or to the viewer's own client (client area: None)."""
    ctx = info.context
    reach = _reach(await ctx.get_viewer())

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> ContactPayload:
        logins = _logins(ctx, reach)
        scope = reach.pop("client_scope")
        client = scope if client_id is None else existing_id(client_id, "Client", "client_id")
        row = await services.add_contact(conn, client, contact_values(input), **reach, **logins)
        return ContactPayload(contact=Contact.build(row))

    return await perform(info, work, ContactPayload, hashing_password=_hashes(reach, input))


async def _update(info: Info[Context, None], id: str, input: ContactInput) -> ContactPayload:
    ctx = info.context
    reach = _reach(await ctx.get_viewer())
    hashes = _hashes(reach, input)

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> ContactPayload:
        contact_id = existing_id(id, "Contact")
        if hashes:
            current = await services.get_contact(conn, contact_id)
            login_id = current.login_id if current else None
            await require_two_factor_override(viewer, conn, login_id, in_input=True)
        row = await services.update_contact(
            conn, contact_id, contact_values(input), **reach, **_logins(ctx, reach)
        )
        return ContactPayload(contact=Contact.build(row))

    return await perform(info, work, ContactPayload, hashing_password=hashes)


async def _delete(info: Info[Context, None], id: str) -> OkPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> OkPayload:
        await services.delete_contact(conn, existing_id(id, "Contact"), **_reach(viewer))
        return OkPayload(ok=True)

    return await perform(info, work, OkPayload)


async def add_contact(
    info: Info[Context, None], client_id: ClientId, input: Fields
) -> ContactPayload:
    return await _add(info, client_id, input)


async def update_contact(info: Info[Context, None], id: ContactId, input: Fields) -> ContactPayload:
    return await _update(info, id, input)


async def delete_contact(info: Info[Context, None], id: ContactId) -> OkPayload:
    return await _delete(info, id)


async def add_my_contact(info: Info[Context, None], input: Fields) -> ContactPayload:
    return await _add(info, None, input)


async def update_my_contact(
    info: Info[Context, None], id: ContactId, input: Fields
) -> ContactPayload:
    return await _update(info, id, input)


async def delete_my_contact(info: Info[Context, None], id: ContactId) -> OkPayload:
    return await _delete(info, id)


async def accept_invitation(
    info: Info[Context, None],
    token: Annotated[
        str, strawberry.argument(description="The token from the emailed invitation link.")
    ],
    password: Annotated[
        str, strawberry.argument(description="The sub-account's password (8+ characters).")
    ],
) -> OkPayload:
    ctx = info.context
    try:
        async with ctx.transaction(hashing_password=True) as conn:
            await invitations.accept_invitation(conn, token, password)
    except DomainError as error:
        return OkPayload(ok=False, errors=user_errors(error))
    return OkPayload(ok=True)


@strawberry.type(description="Root fields of contacts: what can be read.")
class Queries:
    contact: Contact | None = strawberry.field(
        resolver=contact,
        extensions=staff(StaffPermission.VIEW_CLIENTS),
        description="One contact of any client (staff).",
    )


@strawberry.type(description="Root fields of contacts: what can be changed.")
class Mutations:
    add_contact: ContactPayload = strawberry.field(
        resolver=add_contact,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="Add a contact or sub-account to a client: a sub-account with a password "
        "logs in at once; without one, its address is emailed an invitation.",
    )
    update_contact: ContactPayload = strawberry.field(
        resolver=update_contact,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="Change a contact; omitted fields stay. The password of a login with "
        "two-factor on also needs MANAGE_LOGIN_SECURITY.",
    )
    delete_contact: OkPayload = strawberry.field(
        resolver=delete_contact,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="Delete a contact and its login; it stops being the billing contact.",
    )
    add_my_contact: ContactPayload = strawberry.field(
        resolver=add_my_contact,
        extensions=client_area(ContactPermission.CONTACTS),
        description="Client area: add a contact (sub-accounts: account holder only). A "
        "sub-account is invited: its address is emailed a link to choose its password "
        "(acceptInvitation); the answer is the same whether or not the address is free.",
    )
    update_my_contact: ContactPayload = strawberry.field(
        resolver=update_my_contact,
        extensions=client_area(ContactPermission.CONTACTS),
        description="Client area: change one of the account's contacts. Turning subAccount on "
        "(again) emails a new invitation; a sub-account's new address is invited as a new "
        "login, and its old login ends.",
    )
    delete_my_contact: OkPayload = strawberry.field(
        resolver=delete_my_contact,
        extensions=client_area(ContactPermission.CONTACTS),
        description="Client area: delete a contact (sub-accounts: account holder only); a "
        "pending invitation's link stops working.",
    )
    accept_invitation: OkPayload = strawberry.field(
        resolver=accept_invitation,
        description="Accept a sub-account invitation (the token from its emailed link, valid "
        "72 hours, once): the invited address becomes a login with this password. Refused "
        "when the address already has a login here.",
    )
