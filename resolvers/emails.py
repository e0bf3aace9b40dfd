"""Emails: sent ones by id, and previews of what each template sends (SPEC 8.2)."""

from __future__ import annotations

from collections.abc import Sequence

import strawberry
from strawberry.types import Info

from domain.auth.permissions import StaffPermission
from domain.emails.templates import TEMPLATES, EmailTemplateError
from resolvers.context import Context
from resolvers.permissions import staff
from schema.emails import Email, EmailTemplatePreview
from schema.node import Owned


async def emails_by_pks(ctx: Context, pks: Sequence[int]) -> list[Owned | None]:
    """`node`/`nodes`: sent emails by row id, with the client they were sent to."""
    rows = await ctx.loaders.sent_email_by_id.load_many(pks)
    return [(row.client_id, Email.from_row(row)) if row else None for row in rows]


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


@strawberry.type(description="Root fields of emails: what can be read.")
class Queries:
    email_template_previews: list[EmailTemplatePreview] = strawberry.field(
        resolver=email_template_previews,
        extensions=staff(StaffPermission.VIEW_EMAILS),
        description="Every email template rendered against sample data (staff).",
    )
