"""Turning an outbox row and its rendered template into the bytes of an RFC 5322 message.

The message is written directly rather than through `email.message.EmailMessage` and its
generator, which cost about 0.85 ms per email, most of a worker's time on an email. What it
writes is what that generator wrote for our emails, in 7-bit only: headers with RFC 2047
encoded-words for non-ASCII names and subjects (folded at 78 characters), one text/plain
part, or multipart/alternative with the text and HTML parts, each UTF-8 in quoted-printable
(lines of at most 76 characters, whatever the template wrote), CRLF line ends throughout.
Attachments (an invoice's PDF) follow the text in multipart/mixed, each in base64.
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import format_datetime, parseaddr
from functools import lru_cache

from domain.emails.outbox import Email
from domain.emails.templates import RenderedEmail

CRLF = "\r\n"
# The longest header line RFC 5322 recommends (it requires at most 998).
MAX_HEADER_LINE = 78
# The email package's folding, for headers that need it.
_POLICY = email.policy.SMTP


@dataclass(frozen=True)
class OutgoingMessage:
    """A message ready for SMTP: the envelope and the message itself."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes


@dataclass(frozen=True)
class Attachment:
    """A file sent with an email (an invoice's PDF), base64-encoded in its own part."""

    filename: str
    content_type: str
    data: bytes


def build_message(
    email: Email,
    rendered: RenderedEmail,
    *,
    mail_from: str,
    attachments: Sequence[Attachment] = (),
) -> OutgoingMessage:
    """The message for `email`, with `attachments` after its text (multipart/mixed);
    ValueError when a header cannot be written safely (a line break in a name, an address
    that is not ASCII)."""
    sender_name, sender = _sender(mail_from)
    headers = "".join(
        (
            _header("From", _mailbox(sender_name, sender)),
            _header("To", _mailbox(email.to_name, email.to_address)),
            _header("Subject", rendered.subject),
            _header("Message-ID", email.message_id),
            _header("Date", format_datetime(email.created_at)),
            f"MIME-Version: 1.0{CRLF}",
        )
    ).encode("ascii")
    body = _body(rendered)
    if attachments:
        body = _multipart("mixed", [body, *map(_attachment_part, attachments)])
    return OutgoingMessage(sender, (email.to_address,), headers + body)


def _body(rendered: RenderedEmail) -> bytes:
    """The text part, or the text and HTML parts as multipart/alternative."""
    if rendered.html is None:
        return _text_part("plain", rendered.body)
    return _multipart(
        "alternative", [_text_part("plain", rendered.body), _text_part("html", rendered.html)]
    )


def _multipart(subtype: str, parts: Sequence[bytes]) -> bytes:
    # Neither quoted-printable nor base64 ever has "==" inside a line, so no part can contain
    # the boundary.
    boundary = f"==clientdesk_{secrets.token_hex(12)}=="
    delimiter = f"{CRLF}--{boundary}{CRLF}".encode("ascii")
    return b"".join(
        (
            f'Content-Type: multipart/{subtype};{CRLF} boundary="{boundary}"{CRLF}'.encode("ascii"),
            *(delimiter + part for part in parts),
            f"{CRLF}--{boundary}--{CRLF}".encode("ascii"),
        )
    )


def _attachment_part(attachment: Attachment) -> bytes:
    """An attachment in base64, lines of 76 characters. Its name is ours ("invoice-12.pdf"):
    plain ASCII, so it needs none of RFC 2231's encodings."""
    name = attachment.filename
    if not name.isascii() or not name.isprintable() or any(c in name for c in '"\\'):
        raise ValueError(f"an attachment name the message cannot carry: {name!r}")
    encoded = base64.encodebytes(attachment.data).replace(b"\n", CRLF.encode("ascii"))
    return (
        _header("Content-Type", attachment.content_type)
        + _header("Content-Disposition", f'attachment; filename="{name}"')
        + f"Content-Transfer-Encoding: base64{CRLF}{CRLF}"
    ).encode("ascii") + encoded


@lru_cache(maxsize=8)
def _sender(mail_from: str) -> tuple[str, str]:
    """The display name and the address of MAIL_FROM (the same for every email)."""
    name, address = parseaddr(mail_from)
    return name, address or mail_from


def _mailbox(name: str | None, address: str) -> str:
    if not address.isascii() or any(c in address for c in " <>\r\n"):
        raise ValueError(f"an address the transport cannot encode: {address!r}")
    if not name:
        return address
    return str(Address(display_name=name, addr_spec=address))


def _header(field: str, value: str) -> str:
    """A header, folded: short ASCII ones as they are, the others by the email package (which
    writes encoded-words for what is not ASCII)."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"a header value may not contain a line break: {value!r}")
    if value.isascii() and len(field) + 2 + len(value) <= MAX_HEADER_LINE:
        return f"{field}: {value}{CRLF}"
    folded: str = _POLICY.header_factory(field, value).fold(policy=_POLICY)
    return folded


def _text_part(subtype: str, text: str) -> bytes:
    content = text.replace(CRLF, "\n").replace("\r", "\n").replace("\n", CRLF).encode("utf-8")
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
    ).encode("ascii") + binascii.b2a_qp(content, istext=True)
