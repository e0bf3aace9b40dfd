"""Root mutations of stored cards (SPEC 4): save, clear, reveal."""

from __future__ import annotations

import functools
from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth.permissions import StaffPermission
from domain.auth.viewer import Viewer
from domain.cards import kept, services
from domain.clients.queries import get_client
from domain.errors import DomainError, ErrorCode
from resolvers.clients import presentation
from resolvers.context import Context
from resolvers.inputs import existing_id
from resolvers.mutation import perform
from resolvers.permissions import staff
from schema.cards import CardInput, RevealCardPayload
from schema.clients import Client, ClientPayload
from schema.common import UserError

ClientIdArgument = Annotated[strawberry.ID, strawberry.argument(description="The client's id.")]


async def _client_payload(ctx: Context, client_id: int) -> ClientPayload:
    async with ctx.connection() as conn:
        row = await get_client(conn, client_id)
    assert row is not None
    return ClientPayload(client=Client.build(row, await presentation(ctx)))


async def save_card(
    info: Info[Context, None],
    client_id: ClientIdArgument,
    input: Annotated[CardInput, strawberry.argument(description="The card to store.")],
) -> ClientPayload:
    ctx = info.context

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> int:
        pk = existing_id(client_id, "Client", "client_id")
        await kept.store_card(
            conn,
            ctx.services.card_keyring,
            ctx.services.gateways,
            pk,
            number=input.number,
            expiry=input.expiry,
            issue_number=input.issue_number,
            start_date=input.start_date,
            cvc=input.cvc,
            staff_id=viewer.staff_id,
        )
        return pk

    return await perform(info, work, ClientPayload, present=functools.partial(_client_payload, ctx))


async def clear_card(info: Info[Context, None], client_id: ClientIdArgument) -> ClientPayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> int:
        pk = existing_id(client_id, "Client", "client_id")
        await kept.forget_card(conn, info.context.services.gateways, pk, staff_id=viewer.staff_id)
        return pk

    return await perform(
        info, work, ClientPayload, present=functools.partial(_client_payload, info.context)
    )


async def reveal_card_number(
    info: Info[Context, None],
    client_id: ClientIdArgument,
    encryption_secret: Annotated[
        str,
        strawberry.argument(description="The installation's card secret (CC encryption hash)."),
    ],
) -> RevealCardPayload:
    """Wrong secrets back off per staff member (SPEC 4.3): during a back-off the secret is
    neither compared nor audited."""
    ctx = info.context
    attempts = ctx.services.card_secret_attempts

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> str | RevealCardPayload | None:
        pk = existing_id(client_id, "Client", "client_id")
        if wait := await attempts.begin(viewer.login_id):
            return _backing_off(wait)
        try:
            return await services.reveal_card_number(
                conn,
                ctx.services.card_keyring,
                pk,
                presented_secret=encryption_secret,
                installation_secrets=ctx.services.card_secrets,
                staff_id=viewer.staff_id,
            )
        except DomainError:
            await attempts.give_back(viewer.login_id)  # no such card: no secret was compared
            raise

    async def present(number: str | RevealCardPayload | None) -> RevealCardPayload:
        viewer = await ctx.get_viewer()
        assert viewer is not None
        if isinstance(number, RevealCardPayload):  # backing off: nothing was compared
            return number
        if number is None:
            await attempts.wrong(viewer.login_id)
            return RevealCardPayload(
                errors=[
                    UserError(
                        field="encryptionSecret",
                        code=ErrorCode.INVALID.value,
                        message="That is not the installation's card secret.",
                    )
                ]
            )
        await attempts.right(viewer.login_id)
        return RevealCardPayload(number=number)

    return await perform(info, work, RevealCardPayload, present=present)


def _backing_off(wait: int) -> RevealCardPayload:
    message = f"Too many wrong card secrets. Try again in {wait} seconds."
    return RevealCardPayload(
        retry_after_seconds=wait,
        errors=[UserError(field=None, code=ErrorCode.TOO_MANY_ATTEMPTS.value, message=message)],
    )


@strawberry.type(description="Root fields of stored cards: what can be changed.")
class Mutations:
    save_card: ClientPayload = strawberry.field(
        resolver=save_card,
        extensions=staff(StaffPermission.MANAGE_CARDS),
        description="Add or replace the client's card (Luhn-checked; no CVV is stored): "
        "with the gateway that keeps cards when the client pays through one (Stripe), "
        "otherwise encrypted here.",
    )
    clear_card: ClientPayload = strawberry.field(
        resolver=clear_card,
        extensions=staff(StaffPermission.MANAGE_CARDS),
        description="Erase the client's card: nothing of the number remains (a card Stripe "
        "keeps is first taken off its Stripe customer).",
    )
    reveal_card_number: RevealCardPayload = strawberry.field(
        resolver=reveal_card_number,
        extensions=staff(StaffPermission.MANAGE_CARDS, api_keys=False),
        description="The full card number, for staff presenting the card secret; audited. "
        "Refused to API keys, whatever their role.",
    )
