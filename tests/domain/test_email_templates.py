"""SPEC 8.1: what the email templates produce — links only to client-area pages that
docs/client-area.md lists, an autoescaped HTML part beside the text, and overrides that never
mix an installation's text with the built-in HTML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain.emails.links import CLIENT_AREA_ROUTES, client_area_link
from domain.emails.rendering import TemplateRenderer
from domain.emails.templates import BUILTIN_DIR, TEMPLATES, EmailTemplateError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "client-area.md"
LINK = re.compile(r"""https?://[^\s"'<>]+""")
BASE = "https://clients.example.com/portal"


def documented_paths() -> list[str]:
    """The paths of the route table in docs/client-area.md, e.g. /invoices/{invoice_id}."""
    return re.findall(r"^\| `\w+` \| `(/[^`]*)` \|", DOCS.read_text(), re.M)


def leads_to_a_documented_page(url: str, base: str) -> bool:
    if not url.startswith(base + "/"):
        return False
    path = url[len(base) :]
    patterns = (re.sub(r"\\\{\w+\\\}", "[^/?#]+", re.escape(p)) for p in documented_paths())
    return any(re.fullmatch(pattern, path) for pattern in patterns)


def links_of(text: str) -> list[str]:
    return LINK.findall(text)


def test_docs_list_exactly_the_client_area_routes_templates_can_link_to() -> None:
    assert sorted(documented_paths()) == sorted(CLIENT_AREA_ROUTES.values())


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_8_1_every_link_of_every_template_leads_to_a_documented_client_area_page(
    key: str,
) -> None:
    context = {**TEMPLATES[key].sample, "client_area_url": BASE}
    rendered = TemplateRenderer().render(key, context)
    assert rendered.html is not None, f"{key} has no HTML part"
    links = links_of(rendered.body) + links_of(rendered.html)
    assert links, f"{key} links nowhere"
    assert [url for url in links if not leads_to_a_documented_page(url, BASE)] == []
    assert "forgot password" not in (rendered.body + rendered.html).lower()


def test_8_1_the_welcome_email_links_to_the_login_page_not_to_the_api_root() -> None:
    rendered = TemplateRenderer().render(
        "client_signup", {**TEMPLATES["client_signup"].sample, "client_area_url": BASE}
    )
    # The sample is of a client without a password: its set-password link too.
    assert links_of(rendered.body) == [f"{BASE}/login", f"{BASE}/password-reset/sample-token"]
    assert f'href="{BASE}/login"' in (rendered.html or "")


def test_link_parameters_are_url_encoded_and_must_match_the_route() -> None:
    assert client_area_link(BASE + "/", "password_reset", token="a/b c") == (
        f"{BASE}/password-reset/a%2Fb%20c"
    )
    for route, params in [("forgot_password", {}), ("invoice", {}), ("login", {"x": 1})]:
        with pytest.raises(ValueError, match=r"docs/client-area\.md"):
            client_area_link(BASE, route, **params)


def test_8_1_the_html_part_escapes_what_the_client_typed_and_the_text_part_keeps_it() -> None:
    client = {**TEMPLATES["client_signup"].sample["client"], "first_name": "<b>Jo</b> & Co"}
    rendered = TemplateRenderer().render(
        "client_signup", {"client": client, "client_area_url": BASE}
    )
    assert "Dear <b>Jo</b> & Co," in rendered.body
    assert "Dear &lt;b&gt;Jo&lt;/b&gt; &amp; Co," in (rendered.html or "")


def test_8_1_a_template_linking_to_a_page_the_client_area_lacks_cannot_be_rendered(
    tmp_path: Path,
) -> None:
    (tmp_path / "client_signup.txt.j2").write_text(
        '{% block subject %}Hi{% endblock %}{% block body %}{{ client_area("forgot") }}'
        "{% endblock %}"
    )
    with pytest.raises(EmailTemplateError, match="forgot"):
        TemplateRenderer(tmp_path).preview("client_signup")


def test_8_1_an_overridden_text_template_is_sent_without_the_built_in_html(
    tmp_path: Path,
) -> None:
    (tmp_path / "client_signup.txt.j2").write_text(
        "{% block subject %}Hello{% endblock %}{% block body %}Our own words.{% endblock %}"
    )
    rendered = TemplateRenderer(tmp_path).preview("client_signup")
    assert (rendered.body, rendered.html) == ("Our own words.\n", None)

    (tmp_path / "client_signup.html.j2").write_text(
        "{% block body %}<p>Our own {{ client.first_name }}</p>{% endblock %}"
    )
    assert TemplateRenderer(tmp_path).preview("client_signup").html == "<p>Our own Joe</p>\n"
    # The built-ins are untouched by another installation's overrides.
    assert (BUILTIN_DIR / "client_signup.html.j2").is_file()
