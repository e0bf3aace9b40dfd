"""Input checks that collect one error per field, so a form shows every problem at once."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from domain.countries import COUNTRY_CODES
from domain.errors import DomainError, ErrorCode, FieldError

_LOCAL_EMAIL = re.compile(r"^[^@\s]+@localhost$", re.IGNORECASE)
_PHONE = re.compile(r"^\+?[0-9 ().\-]{4,30}$")
MAX_TEXT = 255
MAX_NOTES = 10_000


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
        elif len(cleaned) > MAX_TEXT:
            self.fail(field, ErrorCode.INVALID, f"{label} is longer than {MAX_TEXT} characters.")
        return cleaned

    def optional_text(
        self, field: str, value: str | None, label: str, max_length: int = MAX_TEXT
    ) -> str | None:
        cleaned = (value or "").strip()
        if len(cleaned) > max_length:
            self.fail(field, ErrorCode.INVALID, f"{label} is longer than {max_length} characters.")
        return cleaned or None

    def email(self, field: str, value: str | None, *, allow_local: bool = False) -> str:
        cleaned = (value or "").strip()
        if not cleaned:
            self.fail(field, ErrorCode.REQUIRED, "Email address is required.")
            return cleaned
        if allow_local and _LOCAL_EMAIL.match(cleaned):
            # Staff accounts of a single machine (admin@localhost) are not internet addresses.
            return cleaned.lower()
        try:
            checked = validate_email(cleaned, check_deliverability=False)
        except EmailNotValidError as exc:
            self.fail(field, ErrorCode.INVALID, f"Email address is not valid: {exc}")
            return cleaned
        return checked.normalized

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
        if len(value) < 8:
            self.fail(field, ErrorCode.INVALID, "Password must have at least 8 characters.")
        elif len(value) > 1024:
            self.fail(field, ErrorCode.INVALID, "Password is longer than 1024 characters.")
        return value
