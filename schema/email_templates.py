"""Email template types (SPEC 8.1, 15.3): each template per language as staff edit it, and
rendered with its sample context."""

from __future__ import annotations

import strawberry

from domain.emails.custom_templates import TemplateVersion
from domain.emails.templates import RenderedEmail
from schema.common import UserError


@strawberry.type(description="An email template in one language, as it is sent now.")
class EmailTemplate:
    name: str = strawberry.field(description="The template's key, e.g. client_signup.")
    title: str = strawberry.field(description="Its name, e.g. Client Signup Email.")
    category: str = strawberry.field(description="Its email category (GENERAL, INVOICE, …).")
    language: str = strawberry.field(description="The language, ISO 639-1 (en, de).")
    subject: str = strawberry.field(description="The Jinja source of the subject line.")
    text: str = strawberry.field(description="The Jinja source of the plain-text part.")
    html: str | None = strawberry.field(
        description="The Jinja source of the HTML part; null: the email is sent as text only."
    )
    customised: bool = strawberry.field(
        description="Whether staff changed it (revertEmailTemplate brings the built-in back)."
    )

    @classmethod
    def build(cls, version: TemplateVersion) -> EmailTemplate:
        return cls(
            name=version.name,
            title=version.title,
            category=version.category.value,
            language=version.language,
            subject=version.source.subject,
            text=version.source.text,
            html=version.source.html,
            customised=version.customised,
        )


@strawberry.input(description="Staff's version of an email template in one language.")
class EmailTemplateInput:
    name: str = strawberry.field(description="The template's key, e.g. client_signup.")
    language: str = strawberry.field(description="A language emails are written in (en, de).")
    subject: str = strawberry.field(description="The subject line (Jinja), one line.")
    text: str = strawberry.field(description="The plain-text part (Jinja).")
    html: str | None = strawberry.field(
        default=None, description="The HTML part (Jinja, autoescaped); null or blank: text only."
    )


@strawberry.type(description="The result of changing or reverting an email template.")
class EmailTemplatePayload:
    template: EmailTemplate | None = strawberry.field(
        default=None, description="The template as it is sent from now on."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list,
        description="Why it was refused, by part (subject, text, html); empty on success.",
    )


@strawberry.type(description="An email template of the installation, rendered with sample data.")
class EmailTemplatePreview:
    key: str = strawberry.field(description="The template's key, e.g. client_signup.")
    title: str = strawberry.field(description="Its name, e.g. Client Signup Email.")
    category: str = strawberry.field(description="Its email category (GENERAL, INVOICE, …).")
    language: str = strawberry.field(description="The language it is rendered in.")
    subject: str = strawberry.field(description="The subject, rendered with the sample data.")
    body: str = strawberry.field(description="The body, rendered with the sample data.")
    html: str | None = strawberry.field(
        description="The HTML part, rendered with the sample data; null when sent as text only."
    )

    @classmethod
    def build(cls, version: TemplateVersion, rendered: RenderedEmail) -> EmailTemplatePreview:
        return cls(
            key=version.name,
            title=version.title,
            category=version.category.value,
            language=version.language,
            subject=rendered.subject,
            body=rendered.body,
            html=rendered.html,
        )
