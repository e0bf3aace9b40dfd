"""SPEC 8.2: the message the worker sends, written without the email package's generator, is
a correct RFC 5322 / MIME message that says what the email package would have said."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import pytest

from domain.emails.message import build_message
from domain.emails.outbox import Email
from domain.emails.rendering import TemplateRenderer
from domain.emails.templates import TEMPLATES, RenderedEmail

MAIL_FROM = "Billing Team <billing@example.com>"
LONG_SUBJECT = "Your invoice #1234 for the hosting of www.example.com is due " * 2


def outbox_email(to_name: str | None = "Joe Bloggs", to_address: str = "joe@example.com") -> Email:
    return Email(
        id=1,
        client_id=None,
        template="client_signup",
        category="GENERAL",
        to_address=to_address,
        to_name=to_name,
        context=TEMPLATES["client_signup"].sample,
        message_id="<1.abc@example.com>",
        subject=None,
        body=None,
        attempts=1,
        last_error=None,
        next_attempt_at=None,
        created_at=datetime(2026, 1, 31, 12, 30, tzinfo=UTC),
        sent_at=None,
        failed_at=None,
        from_address=None,
    )


def reference(outgoing: Email, rendered: RenderedEmail) -> EmailMessage:
    """The same message made by the email package, as the worker used to make it."""
    message = EmailMessage()
    message["From"] = MAIL_FROM
    message["To"] = formataddr((outgoing.to_name or "", outgoing.to_address))
    message["Subject"] = rendered.subject
    message["Message-ID"] = outgoing.message_id
    message["Date"] = format_datetime(outgoing.created_at)
    message.set_content(rendered.body)
    if rendered.html is not None:
        message.add_alternative(rendered.html, subtype="html")
    return message


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> dict[str, str]:
    found = {}
    for part in message.walk():
        if not part.is_multipart():
            assert isinstance(part, EmailMessage)
            assert part.get_content_charset() == "utf-8"
            found[part.get_content_type()] = part.get_content().replace("\r\n", "\n")
    return found


def assert_well_formed(data: bytes) -> None:
    # 7-bit, CRLF line ends only, headers within 78 characters and QP lines within 76.
    assert data.isascii()
    lines = data.split(b"\r\n")
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    header_lines = lines[: lines.index(b"")]
    assert max(map(len, header_lines)) <= 78
    assert max(map(len, lines)) <= 78
    message = parsed(data)
    assert all(not part.defects for part in message.walk())


SAMPLES = {
    "ascii": ("Joe Bloggs", RenderedEmail("Welcome, Joe", "Dear Joe,\n" + "word " * 40 + "\n")),
    "non-ascii name and subject": (
        "Jöe Blöggs, «Ünïcode»",
        RenderedEmail("Bienvenue, Jöe — ça va ?", "Chère Jöe,\n" + "été " * 40 + "\n"),
    ),
    "long folded subject": ("Joe", RenderedEmail(LONG_SUBJECT.strip(), "x = 1\n.\nFrom here\n")),
    "quoted name": ('Bloggs, Joe "JB"', RenderedEmail("Hi", "Hi\n")),
    "no name": (None, RenderedEmail("Hi", "trailing spaces   \n\ttab\n")),
}


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("with_html", [True, False], ids=["html", "text only"])
def test_8_2_message_says_what_the_email_package_would_and_is_well_formed(
    sample: str, with_html: bool
) -> None:
    to_name, rendered = SAMPLES[sample]
    if with_html:
        rendered = RenderedEmail(rendered.subject, rendered.body, "<p>" + rendered.body + "</p>\n")
    outgoing = outbox_email(to_name)

    message = build_message(outgoing, rendered, mail_from=MAIL_FROM)

    assert message.sender == "billing@example.com"
    assert message.recipients == ("joe@example.com",)
    assert_well_formed(message.data)
    ours, expected = parsed(message.data), parsed(reference(outgoing, rendered).as_bytes())
    for header in ("From", "To", "Subject", "Message-ID", "Date", "MIME-Version"):
        assert ours[header] == expected[header], header
    assert ours.get_content_type() == expected.get_content_type()
    assert ours.get_content_type() == ("multipart/alternative" if with_html else "text/plain")
    assert parts(ours) == parts(expected)


def test_8_2_built_in_template_message_has_text_and_html_alternatives() -> None:
    rendered = TemplateRenderer().preview("client_signup")
    message = parsed(build_message(outbox_email(), rendered, mail_from=MAIL_FROM).data)
    assert message["To"] == "Joe Bloggs <joe@example.com>"
    assert [p.get_content_type() for p in message.walk()] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().replace("\r\n", "\n") == rendered.body


@pytest.mark.parametrize(
    ("to_name", "to_address"),
    [
        ("Joe\r\nBcc: someone@example.com", "joe@example.com"),  # a header injection
        ("Joe", "jöe@example.com"),  # no SMTPUTF8 here
        ("Joe", "joe@example.com>\r\nBcc: x@example.com"),
    ],
)
def test_8_2_headers_that_cannot_be_written_safely_are_refused(
    to_name: str, to_address: str
) -> None:
    with pytest.raises(ValueError):
        build_message(
            outbox_email(to_name, to_address), RenderedEmail("Hi", "Hi\n"), mail_from=MAIL_FROM
        )


def test_8_2_a_subject_with_a_line_break_is_refused() -> None:
    with pytest.raises(ValueError):
        build_message(
            outbox_email(), RenderedEmail("Hi\r\nBcc: x@example.com", "Hi\n"), mail_from=MAIL_FROM
        )
