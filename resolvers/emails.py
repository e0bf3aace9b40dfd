"""Email templates: previews of what each one sends (SPEC 8.2)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from domain.auth.permissions import StaffPermission
from domain.emails.templates import TEMPLATES, EmailTemplateError
from resolvers.context import Context
from resolvers.permissions import staff
from schema.emails import EmailTemplatePreview


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
