"""Typed domain errors: a stable code, a message for people, and the input field concerned."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    REQUIRED = "REQUIRED"
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    FORBIDDEN = "FORBIDDEN"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
    ACCOUNT_CLOSED = "ACCOUNT_CLOSED"
    TOTP_REQUIRED = "TOTP_REQUIRED"
    INSUFFICIENT_CREDIT = "INSUFFICIENT_CREDIT"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    NOT_CONFIGURED = "NOT_CONFIGURED"
    # The client holds credit or has billing history in its currency (SPEC 1.6, 13.4).
    CURRENCY_IN_USE = "CURRENCY_IN_USE"
    # The payment gateway refused a capture or a refund; the message is the gateway's.
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    # The payment gateway could not be reached or failed on its side: nothing went through,
    # and the same request may be tried again later.
    GATEWAY_UNAVAILABLE = "GATEWAY_UNAVAILABLE"
    # A quote past its valid-until date (SPEC 14.4): it can no longer be sent or accepted.
    EXPIRED = "EXPIRED"
    # A quote accepted already: it is an invoice now and changes no more.
    ALREADY_ACCEPTED = "ALREADY_ACCEPTED"


@dataclass(frozen=True)
class FieldError:
    field: str | None
    code: ErrorCode
    message: str


class DomainError(Exception):
    """A use case refused its input; nothing was changed. Carries one error per field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors

    @classmethod
    def single(cls, code: ErrorCode, message: str, field: str | None = None) -> DomainError:
        return cls([FieldError(field, code, message)])


class NotFound(DomainError):
    def __init__(self, what: str, field: str | None = "id") -> None:
        super().__init__([FieldError(field, ErrorCode.NOT_FOUND, f"{what} not found.")])
