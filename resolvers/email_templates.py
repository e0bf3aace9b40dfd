"""Email templates staff read, preview, change and revert, per language (SPEC 8.1, 15.3)."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import strawberry
from strawberry.types import Info

from domain.auth.permissions import StaffPermission
from domain.auth.viewer import Viewer
from domain.emails import custom_templates
from domain.emails.custom_templates import TemplateVersion
from domain.emails.rendering import Branding, StoredTemplate
from domain.emails.templates import TEMPLATES, EmailTemplateError, RenderedEmail
from domain.errors import DomainError
from resolvers.context import Context
from resolvers.mutation import perform
from resolvers.pagination import bad_input
from resolvers.permissions import staff
from schema.email_templates import (
    EmailTemplate,
    EmailTemplateInput,
    EmailTemplatePayload,
    EmailTemplatePreview,
)

Name = Annotated[str, strawberry.argument(description="The template's key, e.g. client_signup.")]
Language = Annotated[str, strawberry.argument(description="The language (en, de).")]


async def _branding(info: Info[Context, None]) -> Branding:
    ctx = info.context
    return Branding.of(await ctx.services.reference.general_settings(ctx.connection))


def _preview(
    info: Info[Context, None], version: TemplateVersion, branding: Branding
) -> RenderedEmail:
    """The version rendered with its sample context; a template that fails (an installation's
    file) shows its error as the body rather than failing the answer."""
    stored = version.source if version.customised else None
    try:
        return info.context.services.renderer.preview(
            version.name, language=version.language, branding=branding, stored=stored
        )
    except EmailTemplateError as error:
        return RenderedEmail(subject=f"(cannot be rendered) {version.title}", body=str(error))


async def email_templates(info: Info[Context, None]) -> list[EmailTemplate]:
    """Every template in every language emails are written in, as sent now."""
    async with info.context.connection() as conn:
        versions = await custom_templates.list_versions(conn, info.context.services.renderer)
    return [EmailTemplate.build(version) for version in versions]


async def email_template_previews(info: Info[Context, None]) -> list[EmailTemplatePreview]:
    """Every template rendered against its sample data in the default language, with the
    installation's and staff's versions."""
    ctx = info.context
    general = await ctx.services.reference.general_settings(ctx.connection)
    branding = Branding.of(general)
    async with ctx.connection() as conn:
        stored = await custom_templates.stored_templates(conn)
    versions = [
        custom_templates.version(ctx.services.renderer, stored, name, general.default_language)
        for name in sorted(TEMPLATES)
    ]
    return [EmailTemplatePreview.build(v, _preview(info, v, branding)) for v in versions]


async def preview_email_template(
    info: Info[Context, None], name: Name, language: Language
) -> EmailTemplatePreview:
    """One template in one language rendered with its sample context, as it would be sent."""
    try:
        custom_templates.check_key(name, language)
    except DomainError as error:
        [problem] = error.errors
        raise bad_input(problem.message, problem.field) from error
    async with info.context.connection() as conn:
        stored = await custom_templates.stored_templates(conn, [name])
    version = custom_templates.version(info.context.services.renderer, stored, name, language)
    return EmailTemplatePreview.build(version, _preview(info, version, await _branding(info)))


async def update_email_template(
    info: Info[Context, None],
    input: Annotated[EmailTemplateInput, strawberry.argument(description="The new version.")],
) -> EmailTemplatePayload:
    """Staff's version of a template in one language, checked before it is stored."""
    branding = await _branding(info)

    async def work(conn: asyncpg.Connection, viewer: Viewer) -> EmailTemplatePayload:
        saved = await custom_templates.save_version(
            conn,
            info.context.services.renderer,
            name=input.name,
            language=input.language,
            template=StoredTemplate(input.subject, input.text, input.html),
            branding=branding,
            staff_id=viewer.staff_id,
        )
        return EmailTemplatePayload(template=EmailTemplate.build(saved))

    return await perform(info, work, EmailTemplatePayload)


async def revert_email_template(
    info: Info[Context, None], name: Name, language: Language
) -> EmailTemplatePayload:
    async def work(conn: asyncpg.Connection, viewer: Viewer) -> EmailTemplatePayload:
        reverted = await custom_templates.revert_version(
            conn,
            info.context.services.renderer,
            name=name,
            language=language,
            staff_id=viewer.staff_id,
        )
        return EmailTemplatePayload(template=EmailTemplate.build(reverted))

    return await perform(info, work, EmailTemplatePayload)


@strawberry.type(description="Root fields of email templates: what can be read.")
class Queries:
    email_templates: list[EmailTemplate] = strawberry.field(
        resolver=email_templates,
        extensions=staff(StaffPermission.VIEW_EMAILS),
        description="Every email template in every language emails are written in, with "
        "staff's changes (staff).",
    )
    email_template_previews: list[EmailTemplatePreview] = strawberry.field(
        resolver=email_template_previews,
        extensions=staff(StaffPermission.VIEW_EMAILS),
        description="Every email template rendered against sample data in the default "
        "language (staff).",
    )
    preview_email_template: EmailTemplatePreview = strawberry.field(
        resolver=preview_email_template,
        extensions=staff(StaffPermission.VIEW_EMAILS),
        description="One email template in one language rendered with its sample data, with "
        "the company's name, address, logo and signature (staff).",
    )


@strawberry.type(description="Root fields of email templates: what can be changed.")
class Mutations:
    update_email_template: EmailTemplatePayload = strawberry.field(
        resolver=update_email_template,
        # What every client is told is an installation setting.
        extensions=staff(StaffPermission.MANAGE_SETTINGS),
        description="Staff's version of an email template in one language (Jinja, sandboxed), "
        "sent from now on; a part that cannot be rendered is refused with an error on it "
        "(INVALID). Audited.",
    )
    revert_email_template: EmailTemplatePayload = strawberry.field(
        resolver=revert_email_template,
        extensions=staff(StaffPermission.MANAGE_SETTINGS),
        description="Back to the built-in version of an email template in one language. Audited.",
    )
