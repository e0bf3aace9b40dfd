"""SPEC 15.3: every shipped language has every template, each email carries who it is from,
and templates run in a sandbox that reaches the documented context only."""

from __future__ import annotations

import pytest

from domain.emails.languages import BASE_LANGUAGE, LANGUAGES, email_language, language_folder
from domain.emails.rendering import Branding, StoredTemplate, TemplateRenderer
from domain.emails.templates import BUILTIN_DIR, TEMPLATES, EmailTemplateError

BRANDING = Branding(
    company_name="Acme Hosting GmbH",
    company_address="Hauptstraße 1\n10115 Berlin",
    logo_url="https://acme.example/logo.png",
    signature="Ihr Acme-Team",
)
SIGN_OFF = {"en": "Kind regards,", "de": "Mit freundlichen Grüßen"}
EVERY_VERSION = [(key, language) for key in sorted(TEMPLATES) for language in LANGUAGES]


@pytest.mark.parametrize("language", LANGUAGES)
def test_15_3_every_shipped_language_has_every_template_and_include(language: str) -> None:
    """Fails when a template is added (or an include given words) without its translation."""
    base = {
        path.name
        for path in BUILTIN_DIR.glob("*.j2")
        # Words-free includes (the company block) serve every language.
        if not path.name.startswith("company.")
    }
    folder = language_folder(BUILTIN_DIR, language)
    present = {path.name for path in folder.glob("*.j2")}
    wanted = {f"{key}.{part}.j2" for key in TEMPLATES for part in ("txt", "html")}
    assert wanted <= base, "every template has a text and an HTML part"
    assert sorted(base - present) == []


@pytest.mark.parametrize(("key", "language"), EVERY_VERSION)
def test_15_3_every_email_carries_the_company_name_address_logo_and_signature(
    key: str, language: str
) -> None:
    rendered = TemplateRenderer().preview(key, language=language, branding=BRANDING)
    assert rendered.html is not None
    for part in (rendered.body, rendered.html):
        assert part.count(SIGN_OFF[language]) == 1, "signed once, in its own language"
        assert "Ihr Acme-Team" in part
        assert "Acme Hosting GmbH" in part and "10115 Berlin" in part
        assert "billing team" not in part
    assert '<img src="https://acme.example/logo.png"' in rendered.html
    assert f'<html lang="{language}">' in rendered.html


def test_15_3_the_german_set_is_written_in_german() -> None:
    renderer = TemplateRenderer()
    english = renderer.preview("invoice_created")
    german = renderer.preview("invoice_created", language="de")
    assert english.subject == "Invoice #1 created"
    assert german.subject == "Rechnung Nr. 1 erstellt"
    assert german.body.startswith("Guten Tag Joe,")
    assert "Offener Betrag: 21.00 USD" in german.body


def test_15_3_a_client_language_without_emails_falls_back_to_the_default() -> None:
    assert email_language("de", "en") == "de"
    assert email_language("fr", "en") == "en"
    assert email_language(None, "de") == "de"
    assert BASE_LANGUAGE in LANGUAGES


def test_15_3_staffs_version_made_of_the_built_in_sources_sends_the_same_email() -> None:
    renderer = TemplateRenderer()
    for key, language in EVERY_VERSION:
        source = renderer.file_source(key, language)
        built_in = renderer.preview(key, language=language, branding=BRANDING)
        stored = renderer.preview(key, language=language, branding=BRANDING, stored=source)
        assert stored == built_in, (key, language)
        assert renderer.problems(key, language, source, BRANDING) == {}


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{{ client.first_name.upper() }}", "unsafe"),
        ("{{ ''.__class__.__mro__ }}", "Cannot be rendered"),
        ("{{ 'x'['format'] }}", "unsafe"),
        ("{{ client.items() }}", "client.items"),
        ("{{ client|attr('keys') }}", "unsafe"),
        ("{% if false %}{{ client.password }}{% endif %}", "client.password"),
        ("{% if false %}{{ config }}{% endif %}", "config"),
        ("{% for x in [1] %}{{ loop.index }}{% endfor %}{{ client.first_name }", "Line 1"),
    ],
)
def test_15_3_a_template_reaching_beyond_its_context_is_refused(source: str, problem: str) -> None:
    bad = StoredTemplate(subject="Hi", text=source, html=None)
    problems = TemplateRenderer().problems("client_signup", "en", bad, BRANDING)
    assert list(problems) == ["text"]
    assert problem in problems["text"]


def test_15_3_the_loop_variable_and_filters_stay_usable_in_the_sandbox() -> None:
    fine = StoredTemplate(
        subject="{{ client.first_name|upper }}",
        text="{% for x in ['a', 'b'] %}{{ loop.index }}{{ x }} {% endfor %}{{ company.name }}",
        html="<p>{{ client.display_name }}</p>",
    )
    renderer = TemplateRenderer()
    assert renderer.problems("client_signup", "en", fine, BRANDING) == {}
    rendered = renderer.preview("client_signup", branding=BRANDING, stored=fine)
    assert (rendered.subject, rendered.body) == ("JOE", "1a 2b Acme Hosting GmbH\n")


def test_15_3_a_stored_template_that_breaks_on_a_context_fails_as_a_template_error() -> None:
    stored = StoredTemplate(subject="Hi", text="{{ client.first_name }}", html=None)
    with pytest.raises(EmailTemplateError, match="cannot be rendered"):
        TemplateRenderer().render("client_signup", {"client": {}}, stored=stored)
