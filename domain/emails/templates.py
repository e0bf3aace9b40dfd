"""Email templates (SPEC 8.1): Jinja2 files with a `subject` and a `body` block.

The built-in files live beside this module; an installation overrides one by putting a file
of the same name in its `EMAIL_TEMPLATES_DIR`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import jinja2

BUILTIN_DIR = Path(__file__).resolve().parent / "templates"


class EmailCategory(StrEnum):
    """What a contact ticks to receive copies (SPEC 2.2); ACCOUNT mail goes to its owner only."""

    GENERAL = "GENERAL"
    INVOICE = "INVOICE"
    SUPPORT = "SUPPORT"
    PRODUCT = "PRODUCT"
    DOMAIN = "DOMAIN"
    AFFILIATE = "AFFILIATE"
    ACCOUNT = "ACCOUNT"


@dataclass(frozen=True)
class EmailTemplate:
    key: str
    title: str
    category: EmailCategory
    sample: dict[str, Any]


_SAMPLE_CLIENT = {
    "first_name": "Joe",
    "last_name": "Bloggs",
    "display_name": "Joe Bloggs",
    "email": "joe@example.com",
    "company_name": "Demo Company",
}

TEMPLATES: dict[str, EmailTemplate] = {
    t.key: t
    for t in [
        EmailTemplate(
            "client_signup",
            "Client Signup Email",
            EmailCategory.GENERAL,
            {"client": _SAMPLE_CLIENT, "client_area_url": "https://example.com/clientarea"},
        ),
    ]
}


class EmailTemplateError(ValueError):
    """A template that cannot be rendered: missing, broken, or using an unknown value."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body: str


class TemplateRenderer:
    """Renders a template by key; built-ins unless the installation overrides the file."""

    def __init__(self, override_dir: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if override_dir is not None:
            loaders.append(jinja2.FileSystemLoader(override_dir))
        loaders.append(jinja2.FileSystemLoader(BUILTIN_DIR))
        # Plain-text mail: nothing to escape, but undefined names must fail loudly.
        self._env = jinja2.Environment(  # noqa: S701
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )

    def render(self, key: str, context: dict[str, Any]) -> RenderedEmail:
        try:
            template = self._env.get_template(f"{key}.txt.j2")
            ctx = template.new_context(context)
            subject = "".join(template.blocks["subject"](ctx)).strip()
            body = "".join(template.blocks["body"](ctx)).strip() + "\n"
        except (jinja2.TemplateError, KeyError) as exc:
            raise EmailTemplateError(f"template {key!r} cannot be rendered: {exc}") from exc
        return RenderedEmail(subject=subject, body=body)

    def preview(self, key: str) -> RenderedEmail:
        return self.render(key, TEMPLATES[key].sample)
