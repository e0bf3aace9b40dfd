"""Types shared by every area: user errors, plain OK payloads, page info."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from domain.errors import DomainError


@strawberry.type(description="A problem with the input of a mutation; nothing was changed.")
class UserError:
    field: str | None = strawberry.field(
        description="The input field concerned (camelCase), or null for the whole operation."
    )
    code: str = strawberry.field(
        description="A stable machine-readable code: REQUIRED, INVALID, NOT_FOUND, CONFLICT, …"
    )
    message: str = strawberry.field(description="A sentence for people.")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def user_errors(error: DomainError) -> list[UserError]:
    """The payload errors of a refused use case, field names as the API spells them."""
    return [
        UserError(field=_camel(e.field) if e.field else None, code=e.code.value, message=e.message)
        for e in error.errors
    ]


@strawberry.type(description="The result of a mutation that returns nothing else.")
class OkPayload:
    ok: bool = strawberry.field(
        default=False, description="True when the operation was carried out."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type(description="Where a page of a connection stands (Relay cursor pagination).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when items follow this page.")
    has_previous_page: bool = strawberry.field(description="True when items precede this page.")
    start_cursor: str | None = strawberry.field(
        description="Pass as `before` to fetch the previous page; null on an empty page."
    )
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` to fetch the next page; null on an empty page."
    )

    @classmethod
    def empty(cls) -> PageInfo:
        """Of a list with nothing in it."""
        return cls(has_next_page=False, has_previous_page=False, start_cursor=None, end_cursor=None)


class Unauthenticated(GraphQLError):
    """Raised when a field needs a logged-in viewer and there is none."""

    def __init__(self, message: str = "Log in first.") -> None:
        super().__init__(message, extensions={"code": "UNAUTHENTICATED"})


class NotFoundError(GraphQLError):
    """Raised by a field whose result cannot be null when what it names does not exist."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found.", extensions={"code": "NOT_FOUND"})


class TwoFactorRequired(GraphQLError):
    """Raised for a staff session without the second factor the settings require of staff:
    it may only set two-factor up (SPEC 11.2)."""

    CODE = "TWO_FACTOR_REQUIRED"
    MESSAGE = (
        "Staff must use two-factor login here: set it up (beginTwoFactorSetup, then "
        "confirmTwoFactorSetup), or log in again with your authentication code."
    )

    def __init__(self) -> None:
        super().__init__(self.MESSAGE, extensions={"code": self.CODE})


class Forbidden(GraphQLError):
    """Raised when the viewer is logged in but may not do this; `fields` names the input
    fields refused (as `input.taxExempt`) when the operation itself would be allowed."""

    def __init__(
        self, message: str = "You are not allowed to do this.", *, fields: list[str] | None = None
    ) -> None:
        extensions: dict[str, object] = {"code": "FORBIDDEN"}
        if fields:
            extensions["fields"] = fields
        super().__init__(message, extensions=extensions)
