"""Staff's own versions of the email templates (SPEC 15.3): listed beside the built-ins of every
shipped language, saved once they are known to render, reverted to the built-in; audited.

A version is checked when it is saved (`TemplateRenderer.problems`), so that a mistake is an
error on the form, never an email that fails later.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import asyncpg

from domain import audit
from domain.emails.languages import LANGUAGES
from domain.emails.rendering import Branding, StoredTemplate, TemplateRenderer
from domain.emails.templates import TEMPLATES, EmailCategory
from domain.errors import DomainError, ErrorCode, FieldError, NotFound
from domain.validation import InputCheck, storable_text

# The longest source of a text or HTML part staff may store (a subject is one line of text).
MAX_SOURCE = 100_000


@dataclass(frozen=True)
class TemplateVersion:
    """A template in one language as it is sent now: staff's version, else the file's."""

    name: str
    title: str
    category: EmailCategory
    language: str
    source: StoredTemplate
    customised: bool


async def stored_templates(
    conn: asyncpg.Connection, names: Collection[str] | None = None
) -> dict[tuple[str, str], StoredTemplate]:
    """Staff's versions by (name, language), of the templates `names` (None: all)."""
    rows = await conn.fetch(
        """SELECT name, language, subject, text, html FROM email_templates
            WHERE $1::text[] IS NULL OR name = ANY($1::text[])""",
        None if names is None else list(names),
    )
    return {
        (row["name"], row["language"]): StoredTemplate(row["subject"], row["text"], row["html"])
        for row in rows
    }


def version(
    renderer: TemplateRenderer,
    stored: dict[tuple[str, str], StoredTemplate],
    name: str,
    language: str,
) -> TemplateVersion:
    """Template `name` in `language` as sent: staff's version among `stored`, else the file's."""
    template = TEMPLATES[name]
    mine = stored.get((name, language))
    return TemplateVersion(
        name=name,
        title=template.title,
        category=template.category,
        language=language,
        source=mine or renderer.file_source(name, language),
        customised=mine is not None,
    )


async def list_versions(
    conn: asyncpg.Connection, renderer: TemplateRenderer
) -> list[TemplateVersion]:
    """Every template in every shipped language, by name then language."""
    stored = await stored_templates(conn)
    return [
        version(renderer, stored, name, language)
        for name in sorted(TEMPLATES)
        for language in LANGUAGES
    ]


def check_key(name: str, language: str) -> None:
    """NOT_FOUND unless `name` is a template and `language` a shipped language."""
    if name not in TEMPLATES:
        raise NotFound("Email template", "name")
    if language not in LANGUAGES:
        raise DomainError.single(
            ErrorCode.NOT_FOUND,
            f"Emails are written in {', '.join(LANGUAGES)}; '{language}' is not one of them.",
            "language",
        )


def _checked(
    renderer: TemplateRenderer,
    name: str,
    language: str,
    template: StoredTemplate,
    branding: Branding,
) -> StoredTemplate:
    """The version as stored (html blank: text only); every problem of every part at once."""
    check = InputCheck()
    subject = check.required_text("subject", template.subject, "A subject")
    text = template.text.strip()
    if not text:
        check.fail("text", ErrorCode.REQUIRED, "The text part is required.")
    html = (template.html or "").strip() or None
    for part, source in (("text", text), ("html", html or "")):
        if len(source) > MAX_SOURCE or not storable_text(source):
            check.fail(part, ErrorCode.INVALID, f"At most {MAX_SOURCE} characters of text.")
    cleaned = StoredTemplate(subject, text, html)
    if not check.errors:
        problems = renderer.problems(name, language, cleaned, branding)
        check.errors += [FieldError(p, ErrorCode.INVALID, m) for p, m in problems.items()]
    check.raise_if_failed()
    return cleaned


async def save_version(
    conn: asyncpg.Connection,
    renderer: TemplateRenderer,
    *,
    name: str,
    language: str,
    template: StoredTemplate,
    branding: Branding,
    staff_id: int | None,
) -> TemplateVersion:
    """Store staff's version of a template in a language, once every part renders."""
    check_key(name, language)
    cleaned = _checked(renderer, name, language, template, branding)
    await conn.execute(
        """INSERT INTO email_templates (name, language, subject, text, html)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (name, language) DO UPDATE
              SET subject = excluded.subject, text = excluded.text, html = excluded.html,
                  updated_at = now()""",
        name,
        language,
        cleaned.subject,
        cleaned.text,
        cleaned.html,
    )
    await audit.record(
        conn,
        staff_id=staff_id,
        action="email_template.updated",
        client_id=None,
        changes={"name": name, "language": language, "subject": cleaned.subject},
    )
    return version(renderer, {(name, language): cleaned}, name, language)


async def revert_version(
    conn: asyncpg.Connection,
    renderer: TemplateRenderer,
    *,
    name: str,
    language: str,
    staff_id: int | None,
) -> TemplateVersion:
    """Drop staff's version: the built-in is sent again. Reverting a built-in changes nothing."""
    check_key(name, language)
    dropped = await conn.fetchval(
        "DELETE FROM email_templates WHERE name = $1 AND language = $2 RETURNING name",
        name,
        language,
    )
    if dropped is not None:
        await audit.record(
            conn,
            staff_id=staff_id,
            action="email_template.reverted",
            client_id=None,
            changes={"name": name, "language": language},
        )
    return version(renderer, {}, name, language)
