"""The inputs of the client fields: sorting the list, adding, updating, one's own profile."""

from __future__ import annotations

import strawberry

from domain.clients import queries
from schema.clients import OrderDirection
from schema.people import PersonChangesInput, PersonInput


@strawberry.input(description="How to sort the client list.")
class ClientOrder:
    field: queries.ClientOrderField = strawberry.field(
        default=queries.ClientOrderField.ID, description="The sort key."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.ASC, description="Ascending or descending."
    )


@strawberry.input(description="Profile fields shared by adding and updating a client.")
class ClientProfileInput(PersonInput):
    language: str | None = strawberry.field(
        default=strawberry.UNSET, description="Client-area language, ISO 639-1 (e.g. en)."
    )
    currency: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="ISO 4217 code of a currency of this installation; the default if omitted.",
    )
    notes: str | None = strawberry.field(default=strawberry.UNSET, description="Staff notes.")
    password: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Client-area password (8+ characters); without one the welcome email "
        "carries a single-use link to choose it (else: a password reset).",
    )


@strawberry.input(description="A new client. First name, last name and email are required.")
class AddClientInput(ClientProfileInput):
    first_name: str = strawberry.field(description="First name.")
    last_name: str = strawberry.field(description="Last name.")
    email: str = strawberry.field(description="Email address, unique among clients.")
    referral_code: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The referral code of the affiliate who referred the client (SPEC 14.3); "
        "an unknown one is refused (NOT_FOUND).",
    )


@strawberry.input(description="Changes to a client; omitted fields keep their value.")
class UpdateClientInput(PersonChangesInput, ClientProfileInput):
    overdue_notices_disabled: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Suppress the overdue notices."
    )
    late_fees_exempt: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Never add late fees."
    )
    tax_exempt: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Apply no tax to generated invoices."
    )
    separate_invoices: bool | None = strawberry.field(
        default=strawberry.UNSET, description="One invoice per item, never grouped."
    )
    cc_processing_disabled: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Never capture card invoices automatically."
    )
    default_payment_method: str | None = strawberry.field(
        default=strawberry.UNSET, description="Name of an enabled payment gateway."
    )


@strawberry.input(description="Changes a client makes to its own profile; omitted fields stay.")
class UpdateMyProfileInput(PersonChangesInput):
    email: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="A new login address (holder only): needs currentPassword, and takes "
        "effect when the link emailed to it is followed (confirmEmailChange).",
    )
    current_password: str | None = strawberry.field(
        default=strawberry.UNSET, description="The login's password; needed for a new email."
    )
    language: str | None = strawberry.field(
        default=strawberry.UNSET, description="Client-area language, ISO 639-1 (e.g. en)."
    )
