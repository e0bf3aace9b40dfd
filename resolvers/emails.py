"""Emails: sent ones by id, and failed emails with their requeueing (SPEC 8.2). The templates
are resolvers/email_templates.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth.permissions import StaffPermission
from domain.auth.viewer import Viewer
from domain.emails import log as email_log
from domain.emails import outbox
from resolvers.context import Context
from resolvers.inputs import existing_id
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
)
from resolvers.permissions import staff
from schema.common import OkPayload
from schema.emails import Email, EmailConnection
from schema.node import Owned


async def emails_by_pks(ctx: Context, pks: Sequence[int]) -> list[Owned | None]:
    """`node`/`nodes`: sent emails by row id, with the client they were sent to."""
    rows = await ctx.loaders.sent_email_by_id.load_many(pks)
    return [(row.client_id, Email.from_row(row)) if row else None for row in rows]


# The key of the failed-emails list in its cursors.
FAILED_EMAILS = "failed-emails"


async def failed_emails(
    info: Info[Context, None],
    first: First = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
) -> EmailConnection:
    """The outbox rows given up on, newest first."""
    request = page_request(FAILED_EMAILS, first, after, last, before)
    async with info.context.connection() as conn:
        with cursor_errors():
            page = await email_log.failed_emails(
                conn, request, look_behind=looks_behind(info, request)
            )
        total = await email_log.count_failed_emails(conn)
    return connection(EmailConnection, page, FAILED_EMAILS, Email.from_row, total=total)


async def retry_email(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The failed email's id.")],
) -> OkPayload:
    """Put a failed email back in the queue with a fresh round of attempts."""

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> int:
        email_id = existing_id(id, "Email")
        await outbox.requeue_failed_email(conn, email_id)
        return email_id

    async def present(email_id: int) -> OkPayload:
        await info.context.services.enqueue_emails([email_id])
        return OkPayload(ok=True)

    return await perform(info, work, OkPayload, present=present)


@strawberry.type(description="Root fields of emails: what can be read.")
class Queries:
    failed_emails: EmailConnection = strawberry.field(
        resolver=failed_emails,
        extensions=staff(StaffPermission.VIEW_EMAILS),
        description="Outbox rows given up on (FAILED), newest first (staff).",
    )


@strawberry.type(description="Root fields of emails: what can be changed.")
class Mutations:
    retry_email: OkPayload = strawberry.field(
        resolver=retry_email,
        extensions=staff(StaffPermission.EDIT_CLIENTS),
        description="A failed email back to the queue, with a fresh round of attempts (staff "
        "who may edit clients). NOT_FOUND unless the email is FAILED.",
    )
