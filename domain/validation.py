"""Input checks that collect one error per field, so a form shows every problem at once."""

from __future__ import annotations

import contextlib
import re

import idna
from email_validator import EmailNotValidError, validate_email

from domain.countries import COUNTRY_CODES
from domain.errors import DomainError, ErrorCode, FieldError

_LOCAL_EMAIL = re.compile(r"^[^@\s]+@localhost$", re.IGNORECASE)
_PHONE = re.compile(r"^\+?[0-9 ().\-]{4,30}$")
MAX_TEXT = 255
MAX_NOTES = 10_000

# What PostgreSQL cannot store in a text column: NUL, and lone surrogates (not UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Refused in single-line fields: every C0 and C1 control character (a CR/LF in a name
# would end up in an email header), DEL, the Unicode line and paragraph separators, and
# what cannot be stored. Multi-line fields (notes) keep tab, line feed and carriage return.
_NOT_SINGLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NOT_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def storable_text(value: str) -> bool:
    """Whether a text column can hold `value`."""
    return not _UNSTORABLE.search(value)


def normalize_email(address: str) -> str:
    """What identifies an email address: trimmed, lower-cased, with an internationalised
    domain in its ASCII (IDNA) form. Two spellings are one address when these agree.

    The login throttle counts per this form and logins are looked up by it (see
    `domain.auth.login`), so two spellings reach the same account exactly when they share
    a failed-login counter; `InputCheck.email` stores only ASCII addresses, whose citext
    comparison is this one.
    """
    local, at, domain = address.strip().rpartition("@")
    if not at:
        return address.strip().lower()
    # Not a domain name: left as typed, it matches no stored (validated) address.
    with contextlib.suppress(idna.IDNAError, UnicodeError):
        domain = idna.encode(domain, uts46=True).decode("ascii")
    return f"{local}@{domain}".lower()


class InputCheck:
    """Validates fields one by one; `raise_if_failed` raises a DomainError listing them all."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(self, field: str | None, code: ErrorCode, message: str) -> None:
        self.errors.append(FieldError(field, code, message))

    def raise_if_failed(self) -> None:
        if self.errors:
            raise DomainError(self.errors)

    def required_text(self, field: str, value: str | None, label: str) -> str:
        cleaned = (value or "").strip()
        if not cleaned:
            self.fail(field, ErrorCode.REQUIRED, f"{label} is required.")
        else:
            self._check_text(field, cleaned, label, MAX_TEXT, multiline=False)
        return cleaned

    def optional_text(
        self,
        field: str,
        value: str | None,
        label: str,
        max_length: int = MAX_TEXT,
        *,
        multiline: bool = False,
    ) -> str | None:
        cleaned = (value or "").strip()
        self._check_text(field, cleaned, label, max_length, multiline=multiline)
        return cleaned or None

    def _check_text(
        self, field: str, value: str, label: str, max_length: int, *, multiline: bool
    ) -> None:
        if len(value) > max_length:
            self.fail(field, ErrorCode.INVALID, f"{label} is longer than {max_length} characters.")
        elif (_NOT_MULTILINE if multiline else _NOT_SINGLE_LINE).search(value):
            what = "control characters" if multiline else "line breaks or control characters"
            self.fail(field, ErrorCode.INVALID, f"{label} may not contain {what}.")

    def email(self, field: str, value: str | None, *, allow_local: bool = False) -> str:
        """The address as stored: as typed, but with the domain lower-cased and, when
        internationalised, in its ASCII (IDNA) form. Only addresses every mail server accepts
        are taken: non-ASCII before the @ (which needs SMTPUTF8 at every hop) is refused.
        Stored addresses are thus ASCII, so the database's case-insensitive comparison
        (citext) and `normalize_email` agree on which spellings are the same address."""
        cleaned = (value or "").strip()
        if not cleaned:
            self.fail(field, ErrorCode.REQUIRED, "Email address is required.")
            return cleaned
        if allow_local and _LOCAL_EMAIL.match(cleaned):
            # Staff accounts of a single machine (admin@localhost) are not internet addresses.
            return cleaned.lower()
        try:
            checked = validate_email(cleaned, check_deliverability=False, allow_smtputf8=False)
        except EmailNotValidError as exc:
            self.fail(field, ErrorCode.INVALID, f"Email address is not valid: {exc}")
            return cleaned
        return checked.ascii_email or checked.normalized

    def country(self, field: str, value: str | None) -> str | None:
        cleaned = (value or "").strip().upper()
        if not cleaned:
            return None
        if cleaned not in COUNTRY_CODES:
            self.fail(
                field, ErrorCode.INVALID, f"'{value}' is not an ISO 3166 alpha-2 country code."
            )
        return cleaned

    def phone(self, field: str, value: str | None) -> str | None:
        cleaned = (value or "").strip()
        if cleaned and not _PHONE.match(cleaned):
            self.fail(field, ErrorCode.INVALID, "Phone number may hold digits, spaces, + ( ) . -")
        return cleaned or None

    def password(self, field: str, value: str) -> str:
        if not storable_text(value):
            self.fail(field, ErrorCode.INVALID, "Password may not contain NUL or invalid Unicode.")
        elif len(value) < 8:
            self.fail(field, ErrorCode.INVALID, "Password must have at least 8 characters.")
        elif len(value) > 1024:
            self.fail(field, ErrorCode.INVALID, "Password is longer than 1024 characters.")
        return value
