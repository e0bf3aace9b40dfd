"""What the worker renders a batch of emails with beyond their rows (SPEC 15.3): each one's
language, staff's versions of their templates, and who the emails are from; three statements
a batch, whatever its size."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from domain.emails.custom_templates import stored_templates
from domain.emails.languages import email_language
from domain.emails.outbox import Email
from domain.emails.rendering import Branding, StoredTemplate, TemplateRenderer
from domain.emails.templates import EmailTemplateError, RenderedEmail
from domain.settings import get_general_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Localisation:
    # The language of each client's emails, by client id.
    client_languages: dict[int, str]
    default_language: str
    stored: dict[tuple[str, str], StoredTemplate]
    branding: Branding

    @classmethod
    async def load(cls, conn: asyncpg.Connection, emails: Sequence[Email]) -> Localisation:
        settings = await get_general_settings(conn)
        client_ids = sorted({e.client_id for e in emails if e.client_id is not None})
        rows = await conn.fetch(
            "SELECT id, language FROM clients WHERE id = ANY($1::bigint[])", client_ids
        )
        default = settings.default_language
        return cls(
            client_languages={row["id"]: email_language(row["language"], default) for row in rows},
            default_language=default,
            stored=await stored_templates(conn, {e.template for e in emails}),
            branding=Branding.of(settings),
        )

    def language_of(self, email: Email) -> str:
        """The client's language; staff's emails (no client) are in the default one."""
        if email.client_id is None:
            return self.default_language
        return self.client_languages.get(email.client_id, self.default_language)

    def render(self, renderer: TemplateRenderer, email: Email) -> RenderedEmail:
        """The email in its recipient's language, from staff's version when there is one."""
        language = self.language_of(email)
        stored = self.stored.get((email.template, language))
        if stored is not None:
            try:
                return renderer.render(
                    email.template,
                    email.context,
                    language=language,
                    branding=self.branding,
                    stored=stored,
                )
            except EmailTemplateError as error:
                # Checked against the sample when saved; a context unlike the sample can still
                # break it. The built-in says the same, and the email is not lost.
                log.warning("email %s: staff's template failed, built-in sent: %s", email.id, error)
        return renderer.render(
            email.template, email.context, language=language, branding=self.branding
        )
