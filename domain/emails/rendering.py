"""Rendering email templates (SPEC 8.1, 15.3) in the language of their recipient.

A template is rendered from, in this order: staff's version of it in that language (stored,
`StoredTemplate`), the installation's file in its `EMAIL_TEMPLATES_DIR`, the built-in file. The
files of a language sit in the folder `language_folder` names, and the English file is used
while a language lacks one. An overridden text template is sent without the built-in HTML part
unless the folder it comes from has its own, so the two parts never say different things.

Every template, built-in or written by staff, runs in one sandbox: a dotted name reads a key of
the context's dictionaries and nothing else (no method or attribute of any value), and an
unknown name fails instead of printing blank. Links are made with `client_area(route, …)`
(domain/emails/links.py). Every email carries the company's name, address and logo and the
signature (`Branding`), through the `signature` include of its language.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from domain.emails.languages import BASE_LANGUAGE, LANGUAGES, language_folder
from domain.emails.links import UnknownClientAreaRoute, client_area_link
from domain.emails.templates import BUILTIN_DIR, TEMPLATES, EmailTemplateError, RenderedEmail
from domain.settings import GeneralSettings

# What a template may raise while rendering: Jinja's errors (unknown names, the sandbox's
# refusals) and what an expression on the context's values may raise (`{{ 1 / 0 }}`).
RENDER_ERRORS = (
    jinja2.TemplateError,
    UnknownClientAreaRoute,
    LookupError,
    TypeError,
    ValueError,
    ArithmeticError,
)


@dataclass(frozen=True)
class Branding:
    """Who the emails are from: the general settings every email shows."""

    company_name: str = ""
    company_address: str = ""
    logo_url: str = ""
    signature: str = ""

    @classmethod
    def of(cls, settings: GeneralSettings) -> Branding:
        return cls(
            company_name=settings.company_name,
            company_address=settings.company_address,
            logo_url=settings.logo_url,
            # The company signs while staff have written no signature.
            signature=settings.email_signature or settings.company_name,
        )

    def context(self) -> dict[str, Any]:
        """The names every template may use besides its own context."""
        return {
            "company": {
                "name": self.company_name,
                "address": self.company_address,
                "logo_url": self.logo_url,
            },
            "signature": self.signature,
        }


@dataclass(frozen=True)
class StoredTemplate:
    """Staff's version of a template in one language: the sources of its three parts."""

    subject: str
    text: str
    # None: sent as text only.
    html: str | None


class EmailSandbox(ImmutableSandboxedEnvironment):
    """Templates reach the documented context and nothing else: `a.b` and `a["b"]` read key
    `b` of the dictionary `a`; an attribute of any other value (a string's `format`, a
    dictionary's `items`) is refused. Only Jinja's own `loop` keeps its attributes."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, LoopContext):
            return super().getattr(obj, attribute)
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        if hasattr(obj, attribute):
            return self.unsafe_undefined(obj, attribute)
        return self.undefined(obj=obj, name=attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        try:
            return obj[argument]
        except (TypeError, LookupError):
            if isinstance(argument, str):
                return self.getattr(obj, argument)
        return self.undefined(obj=obj, name=argument)


@jinja2.pass_context
def _client_area(context: jinja2.runtime.Context, route: str, **params: object) -> str:
    """A link to a client-area page, under the `client_area_url` the email was queued with."""
    return client_area_link(context["client_area_url"], route, **params)


class _Language:
    """The template folders of one language, first found first, and its two environments."""

    def __init__(self, language: str, override_dir: Path | None) -> None:
        bases = [d for d in (override_dir, BUILTIN_DIR) if d is not None]
        self.dirs = [language_folder(base, language) for base in bases]
        if language != BASE_LANGUAGE:
            self.dirs += bases
        loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(d) for d in self.dirs])
        # Undefined names must fail loudly in both parts; only the HTML part is escaped.
        self.text = EmailSandbox(
            loader=loader, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
        )
        self.html = EmailSandbox(loader=loader, undefined=jinja2.StrictUndefined, autoescape=True)
        for env in (self.text, self.html):
            env.globals["client_area"] = _client_area

    def html_beside(self, key: str) -> bool:
        """Whether the folder the text template comes from also has its HTML part."""
        source = next(d for d in self.dirs if (d / f"{key}.txt.j2").is_file())
        return (source / f"{key}.html.j2").is_file()


def _block(source: str, name: str) -> str:
    """The source of block `name` of a template file (the built-ins have no nested blocks)."""
    match = re.search(
        rf"{{%-?\s*block\s+{name}\s*-?%}}(.*?){{%-?\s*endblock(?:\s+{name})?\s*-?%}}",
        source,
        re.DOTALL,
    )
    return match.group(1).strip() if match else ""


class TemplateRenderer:
    """Renders a template by key in a shipped language; built-ins unless the installation
    overrides the file or staff stored their own version."""

    def __init__(self, override_dir: Path | None = None) -> None:
        self._languages = {language: _Language(language, override_dir) for language in LANGUAGES}
        # Staff's templates are compiled once per source, not once per email.
        self._compile = functools.lru_cache(maxsize=512)(self._compile_source)

    def render(
        self,
        key: str,
        context: dict[str, Any],
        *,
        language: str = BASE_LANGUAGE,
        branding: Branding | None = None,
        stored: StoredTemplate | None = None,
    ) -> RenderedEmail:
        values = {**context, **(branding or Branding()).context()}
        try:
            if stored is not None:
                return self._render_stored(language, stored, values)
            return self._render_file(key, language, values)
        except RENDER_ERRORS as exc:
            raise EmailTemplateError(f"template {key!r} cannot be rendered: {exc}") from exc

    def preview(
        self,
        key: str,
        *,
        language: str = BASE_LANGUAGE,
        branding: Branding | None = None,
        stored: StoredTemplate | None = None,
    ) -> RenderedEmail:
        """The template rendered with its sample context."""
        sample = TEMPLATES[key].sample
        return self.render(key, sample, language=language, branding=branding, stored=stored)

    def file_source(self, key: str, language: str) -> StoredTemplate:
        """The sources of the file template a language uses, as staff edit them."""
        lang = self._languages[language]
        text = lang.text.get_template(f"{key}.txt.j2")
        assert text.filename is not None
        html = None
        if lang.html_beside(key):
            html_file = lang.html.get_template(f"{key}.html.j2").filename
            assert html_file is not None
            html = _block(Path(html_file).read_text(), "body")
        source = Path(text.filename).read_text()
        return StoredTemplate(_block(source, "subject"), _block(source, "body"), html)

    def problems(
        self, key: str, language: str, template: StoredTemplate, branding: Branding
    ) -> dict[str, str]:
        """Why each part of staff's version of a template cannot be used, by part (subject,
        text, html): a syntax error, a name outside the template's context (even in a branch
        the sample does not take), a refused attribute, or a failure on the sample."""
        values = {**TEMPLATES[key].sample, **branding.context()}
        lang = self._languages[language]
        parts = (
            ("subject", template.subject, lang.text),
            ("text", template.text, lang.text),
            ("html", template.html, lang.html),
        )
        found = {}
        for part, source, env in parts:
            if source is None:
                continue
            try:
                tree = env.parse(source)
                unknown = _unknown_names(tree, values, env.globals)
                if unknown:
                    found[part] = f"Unknown in this template: {', '.join(unknown)}."
                    continue
                env.from_string(tree).render(values)
            except jinja2.TemplateSyntaxError as exc:
                found[part] = f"Line {exc.lineno}: {exc.message}"
            except RENDER_ERRORS as exc:
                found[part] = f"Cannot be rendered: {exc}"
        return found

    def _render_file(self, key: str, language: str, values: dict[str, Any]) -> RenderedEmail:
        lang = self._languages[language]
        text = lang.text.get_template(f"{key}.txt.j2")
        ctx = text.new_context(values)
        subject = "".join(text.blocks["subject"](ctx)).strip()
        body = "".join(text.blocks["body"](ctx)).strip() + "\n"
        html = None
        if lang.html_beside(key):
            html_template = lang.html.get_template(f"{key}.html.j2")
            html_ctx = html_template.new_context(values)
            html = "".join(html_template.blocks["body"](html_ctx)).strip() + "\n"
        return RenderedEmail(subject=subject, body=body, html=html)

    def _render_stored(
        self, language: str, stored: StoredTemplate, values: dict[str, Any]
    ) -> RenderedEmail:
        subject = self._compile(language, False, stored.subject).render(values).strip()
        body = self._compile(language, False, stored.text).render(values).strip() + "\n"
        html = None
        if stored.html is not None:
            html = self._compile(language, True, stored.html).render(values).strip() + "\n"
        return RenderedEmail(subject=subject, body=body, html=html)

    def _compile_source(self, language: str, html: bool, source: str) -> jinja2.Template:
        lang = self._languages[language]
        return (lang.html if html else lang.text).from_string(source)


def _dotted(node: nodes.Node) -> tuple[str, list[str]] | None:
    """`a.b.c` as ("a", ["b", "c"]); None for anything else."""
    path: list[str] = []
    while isinstance(node, nodes.Getattr):
        path.insert(0, node.attr)
        node = node.node
    return (node.name, path) if isinstance(node, nodes.Name) else None


def _unknown_names(
    tree: nodes.Template, values: Mapping[str, Any], known_globals: Mapping[str, Any]
) -> list[str]:
    """The names and dotted paths a template uses that its context does not have, but for
    the keys of a dictionary it asks about with `is defined`: one holding one value or another
    (a reset email's `secret` holds a password or a token)."""
    guarded, varying = set(), set()
    for test in tree.find_all(nodes.Test):
        dotted = _dotted(test.node)
        if test.name in ("defined", "undefined") and dotted is not None:
            root, path = dotted
            guarded.add(".".join([root, *path]))
            varying.add(".".join([root, *path[:-1]]))
    unknown = {
        name
        for name in meta.find_undeclared_variables(tree)
        if name not in values and name not in known_globals and name not in guarded
    }
    for node in tree.find_all(nodes.Getattr):
        dotted = _dotted(node)
        if dotted is None or dotted[0] not in values:
            continue  # a loop's or a {% set %}'s own name: checked when rendered
        root, path = dotted
        value: Any = values[root]
        for depth, attr in enumerate(path):
            if not isinstance(value, Mapping):
                break
            if attr not in value:
                if ".".join([root, *path[:depth]]) not in varying:
                    unknown.add(".".join([root, *path[: depth + 1]]))
                break
            value = value[attr]
    return sorted(unknown)
