"""Email templates: previews of what each one sends; failed emails and their requeueing
(SPEC 8.2)."""

from __future__ import annotations

import base64
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from domain.auth.permissions import StaffPermission
from domain.emails import outbox
from domain.emails.templates import TEMPLATES, EmailTemplateError
from domain.errors import DomainError
from resolvers.context import Context
from resolvers.inputs import existing_id
from resolvers.permissions import staff
from schema.common import OkPayload, PageInfo, user_errors
from schema.emails import Email, EmailConnection, EmailEdge, EmailTemplatePreview

MAX_PAGE_SIZE = 200
_CURSOR_PREFIX = "failed-email:"


async def email_template_previews(info: Info[Context, None]) -> list[EmailTemplatePreview]:
    """Every template rendered against its sample data, with the installation's overrides.

    A broken override shows its error as the body rather than failing the whole list."""
    renderer = info.context.services.renderer
    previews = []
    for key, template in sorted(TEMPLATES.items()):
        try:
            rendered = renderer.preview(key)
            subject, body = rendered.subject, rendered.body
        except EmailTemplateError as error:
            subject, body = f"(cannot be rendered) {template.title}", str(error)
        previews.append(
            EmailTemplatePreview(
                key=key,
                title=template.title,
                category=template.category.value,
                subject=subject,
                body=body,
            )
        )
    return previews


def _encode_cursor(email_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{email_id}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if text.startswith(_CURSOR_PREFIX):
            return int(text.removeprefix(_CURSOR_PREFIX))
    except ValueError:
        pass
    raise GraphQLError(
        "`after` is not a cursor of this list.", extensions={"code": "BAD_USER_INPUT"}
    )


async def failed_emails(
    info: Info[Context, None],
    first: Annotated[int, strawberry.argument(description="Page size, 1–200.")] = 50,
    after: Annotated[
        str | None, strawberry.argument(description="`endCursor` of the previous page.")
    ] = None,
) -> EmailConnection:
    """The outbox rows given up on, newest first."""
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise GraphQLError(
            f"`first` must be between 1 and {MAX_PAGE_SIZE}.", extensions={"code": "BAD_USER_INPUT"}
        )
    after_id = _decode_cursor(after) if after else None
    async with info.context.pool.acquire() as conn:
        rows, has_next_page = await outbox.failed_emails(conn, first=first, after_id=after_id)
        total = await outbox.count_failed_emails(conn)
    edges = [EmailEdge(cursor=_encode_cursor(row.id), node=Email.from_row(row)) for row in rows]
    return EmailConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next_page, end_cursor=edges[-1].cursor if edges else None
        ),
        total_count=total,
    )


async def retry_email(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The failed email's id.")],
) -> OkPayload:
    """Put a failed email back in the queue with a fresh round of attempts."""
    ctx = info.context
    try:
        email_id = existing_id(id, "Email")
        async with ctx.transaction() as conn:
            await outbox.requeue_failed_email(conn, email_id)
    except DomainError as error:
        return OkPayload(ok=False, errors=user_errors(error))
    await ctx.services.enqueue_emails([email_id])
    return OkPayload(ok=True)


@strawberry.type(description="Root fields of emails: what can be read.")
class Queries:
    email_template_previews: list[EmailTemplatePreview] = strawberry.field(
        resolver=email_template_previews,
        extensions=staff(StaffPermission.VIEW_EMAILS),
        description="Every email template rendered against sample data (staff).",
    )
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
