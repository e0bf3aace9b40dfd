"""SPEC 15.3 through the API, the worker and the SMTP sink: each client's emails in its
language, staff's versions of the templates (checked when saved, previewed, reverted, audited)
and the company's name, address, logo and signature from the general settings."""

from __future__ import annotations

from email.message import Message
from typing import Any

from domain.emails.languages import LANGUAGES
from domain.emails.templates import TEMPLATES
from tests.conftest import Services, gql

ADD_CLIENT = """
mutation Add($input: AddClientInput!) {
  addClient(input: $input) { client { id language } errors { field code message } }
}"""
SETTINGS = """
mutation Settings($input: GeneralSettingsInput!) {
  updateGeneralSettings(input: $input) {
    settings { companyName companyAddress logoUrl emailSignature defaultLanguage }
    errors { field code message }
  }
}"""
TEMPLATE_FIELDS = "name title category language subject text html customised"
UPDATE = f"""
mutation Update($input: EmailTemplateInput!) {{
  updateEmailTemplate(input: $input) {{
    template {{ {TEMPLATE_FIELDS} }} errors {{ field code message }}
  }}
}}"""
REVERT = f"""
mutation Revert($name: String!, $language: String!) {{
  revertEmailTemplate(name: $name, language: $language) {{
    template {{ {TEMPLATE_FIELDS} }} errors {{ field code message }}
  }}
}}"""
LIST = f"query {{ emailTemplates {{ {TEMPLATE_FIELDS} }} }}"
PREVIEW = """
query Preview($name: String!, $language: String!) {
  previewEmailTemplate(name: $name, language: $language) { key language subject body html }
}"""
JOE = {"firstName": "Joe", "lastName": "Bloggs", "email": "joe@example.com", "country": "DE"}
ACME = {
    "companyName": "Acme Hosting GmbH",
    "companyAddress": "Hauptstraße 1\n10115 Berlin",
    "logoUrl": "https://acme.example/logo.png",
    "emailSignature": "Ihr Acme-Team",
}
MINE = {
    "name": "client_signup",
    "language": "en",
    "subject": "Hello {{ client.first_name }}, from {{ company.name }}",
    "text": "We welcome {{ client.email }}.\n{{ signature }}",
    "html": "<p>We welcome {{ client.email }}.</p>",
}


def parts(message: Message) -> dict[str, str]:
    """The decoded text and HTML parts of a sent message, by content type."""
    found = {}
    for part in message.walk():
        if part.get_content_type() in ("text/plain", "text/html"):
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found[part.get_content_type()] = payload.decode().replace("\r\n", "\n")
    return found


async def add_client(api: Any, token: str, **fields: str) -> None:
    body = await gql(api, ADD_CLIENT, {"input": {**JOE, **fields}}, token=token)
    assert body["data"]["addClient"]["errors"] == []


async def settle(api: Any, token: str, **settings: str) -> None:
    body = await gql(api, SETTINGS, {"input": settings}, token=token)
    assert body["data"]["updateGeneralSettings"]["errors"] == []


async def test_15_3_a_german_client_gets_the_german_email_signed_by_the_company(
    api, admin_token, run_worker, services: Services
) -> None:
    await settle(api, admin_token, **ACME)
    await add_client(api, admin_token, language="de")

    await run_worker()

    [message] = services.mail.messages
    assert message["Subject"] == "Willkommen, Joe: Ihr Kundenkonto ist eingerichtet"
    sent = parts(message)
    text, html = sent["text/plain"], sent["text/html"]
    assert text.startswith("Guten Tag Joe,")
    assert "Mit freundlichen Grüßen\nIhr Acme-Team\n\n--\nAcme Hosting GmbH\nHauptstraße 1" in text
    assert "billing team" not in text + html
    assert '<html lang="de">' in html and '<img src="https://acme.example/logo.png"' in html


async def test_15_3_a_client_whose_language_has_no_emails_gets_the_default_language(
    api, admin_token, run_worker, services: Services
) -> None:
    await add_client(api, admin_token, language="fr")
    await settle(api, admin_token, defaultLanguage="de")
    await add_client(api, admin_token, email="jo@example.com", language="en")

    await run_worker()

    subjects = sorted(m["Subject"] for m in services.mail.messages)
    assert subjects == [
        "Welcome, Joe: your account is ready",
        "Willkommen, Joe: Ihr Kundenkonto ist eingerichtet",
    ]


async def test_15_3_the_default_language_is_one_emails_are_written_in(api, admin_token) -> None:
    body = await gql(api, SETTINGS, {"input": {"defaultLanguage": "fr"}}, token=admin_token)
    [error] = body["data"]["updateGeneralSettings"]["errors"]
    assert (error["field"], error["code"]) == ("defaultLanguage", "INVALID")
    body = await gql(api, SETTINGS, {"input": {"logoUrl": "http://x/l.png"}}, token=admin_token)
    [error] = body["data"]["updateGeneralSettings"]["errors"]
    assert (error["field"], error["code"]) == ("logoUrl", "INVALID")


async def test_15_3_staff_list_every_template_in_every_language(api, admin_token) -> None:
    body = await gql(api, LIST, token=admin_token)
    listed = body["data"]["emailTemplates"]
    assert {(t["name"], t["language"]) for t in listed} == {
        (name, language) for name in TEMPLATES for language in LANGUAGES
    }
    assert not any(t["customised"] for t in listed)
    [german] = [t for t in listed if (t["name"], t["language"]) == ("invoice_created", "de")]
    assert german["subject"] == "Rechnung Nr. {{ invoice.number }} erstellt"
    assert '{% include "invoice_summary.txt.inc.j2" %}' in german["text"]
    assert german["html"].startswith("<!DOCTYPE html>")


async def test_15_3_staffs_version_is_sent_by_the_worker_until_it_is_reverted(
    api, admin_token, run_worker, services: Services, conn
) -> None:
    await settle(api, admin_token, **ACME)
    body = await gql(api, UPDATE, {"input": MINE}, token=admin_token)
    payload = body["data"]["updateEmailTemplate"]
    assert payload["errors"] == []
    assert payload["template"]["customised"] is True
    assert payload["template"]["subject"] == MINE["subject"]
    # The German version is untouched.
    listed = (await gql(api, LIST, token=admin_token))["data"]["emailTemplates"]
    customised = {(t["name"], t["language"]) for t in listed if t["customised"]}
    assert customised == {("client_signup", "en")}

    await add_client(api, admin_token)
    await run_worker()
    [message] = services.mail.messages
    assert message["Subject"] == "Hello Joe, from Acme Hosting GmbH"
    sent = parts(message)
    assert sent["text/plain"] == "We welcome joe@example.com.\nIhr Acme-Team\n"
    assert sent["text/html"] == "<p>We welcome joe@example.com.</p>\n"

    revert = {"name": "client_signup", "language": "en"}
    body = await gql(api, REVERT, revert, token=admin_token)
    template = body["data"]["revertEmailTemplate"]["template"]
    assert template["customised"] is False
    assert template["subject"] == "Welcome, {{ client.first_name }}: your account is ready"
    await add_client(api, admin_token, email="jo@example.com")
    await run_worker()
    assert services.mail.messages[-1]["Subject"] == "Welcome, Joe: your account is ready"

    audited = await conn.fetch(
        "SELECT action, changes FROM audit_log WHERE action LIKE 'email_template.%' ORDER BY id"
    )
    assert [(row["action"], row["changes"]["name"]) for row in audited] == [
        ("email_template.updated", "client_signup"),
        ("email_template.reverted", "client_signup"),
    ]


async def test_15_3_a_bad_template_is_refused_when_saved_with_an_error_on_each_part(
    api, admin_token
) -> None:
    bad = {
        **MINE,
        "subject": "Hello {{ client.first_name",
        "text": "{% if client.company_name %}{{ client.password }}{% endif %}",
        "html": "<p>{{ client.first_name.upper() }}</p>",
    }
    body = await gql(api, UPDATE, {"input": bad}, token=admin_token)
    payload = body["data"]["updateEmailTemplate"]
    assert payload["template"] is None
    errors = {e["field"]: e for e in payload["errors"]}
    assert set(errors) == {"subject", "text", "html"}
    assert {e["code"] for e in errors.values()} == {"INVALID"}
    assert "client.password" in errors["text"]["message"]
    assert "unsafe" in errors["html"]["message"]
    listed = (await gql(api, LIST, token=admin_token))["data"]["emailTemplates"]
    assert not any(t["customised"] for t in listed)

    for field, value, code in [("name", "no_such", "NOT_FOUND"), ("language", "fr", "NOT_FOUND")]:
        body = await gql(api, UPDATE, {"input": {**MINE, field: value}}, token=admin_token)
        [error] = body["data"]["updateEmailTemplate"]["errors"]
        assert (error["field"], error["code"]) == (field, code)


async def test_15_3_preview_renders_a_template_with_its_sample_context(api, admin_token) -> None:
    await settle(api, admin_token, **ACME)
    variables = {"name": "invoice_created", "language": "de"}
    preview = (await gql(api, PREVIEW, variables, token=admin_token))["data"]
    shown = preview["previewEmailTemplate"]
    assert shown["subject"] == "Rechnung Nr. 1 erstellt"
    assert "Offener Betrag: 21.00 USD" in shown["body"] and "Ihr Acme-Team" in shown["body"]
    assert "acme.example/logo.png" in shown["html"]

    mine = {**MINE, "name": "invoice_created", "language": "de", "html": None}
    mine["text"] = "Rechnung {{ invoice.number }} über {{ invoice.total }}"
    assert (await gql(api, UPDATE, {"input": mine}, token=admin_token))["data"][
        "updateEmailTemplate"
    ]["errors"] == []
    shown = (await gql(api, PREVIEW, variables, token=admin_token))["data"]["previewEmailTemplate"]
    assert (shown["body"], shown["html"]) == ("Rechnung 1 über 21.00\n", None)

    body = await gql(
        api, PREVIEW, {"name": "nope", "language": "en"}, token=admin_token, allow_errors=True
    )
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_15_3_a_stored_version_that_breaks_on_an_email_sends_the_built_in_instead(
    api, admin_token, run_worker, services: Services, conn
) -> None:
    # As a version saved against a sample unlike the email's context would be: written past
    # the check, it fails on every email.
    await conn.execute(
        """INSERT INTO email_templates (name, language, subject, text)
           VALUES ('client_signup', 'de', 'Hallo {{ client.nickname }}', 'x')"""
    )
    await add_client(api, admin_token, language="de")

    await run_worker()

    [message] = services.mail.messages
    assert message["Subject"] == "Willkommen, Joe: Ihr Kundenkonto ist eingerichtet"
    sent = await conn.fetchval("SELECT sent_at IS NOT NULL FROM emails")
    assert sent is True
