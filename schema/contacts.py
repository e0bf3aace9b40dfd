"""Contact types, inputs and payloads (SPEC 2)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.auth import permissions as auth_permissions
from domain.auth.password_tokens import INVITATION_TOKEN_TTL
from domain.contacts import models
from domain.emails.templates import EmailCategory
from schema.common import UserError
from schema.ids import global_id
from schema.node import Node
from schema.people import Address, PersonChangesInput

ContactPermission = strawberry.enum(
    auth_permissions.ContactPermission,
    description="What a sub-account may do in the client area; the account holder may do all.",
)


@strawberry.type(description="Which client emails a contact receives a copy of.")
class EmailPreferences:
    general: bool = strawberry.field(description="General emails (e.g. the welcome email).")
    invoice: bool = strawberry.field(description="Invoice emails.")
    support: bool = strawberry.field(
        description="Support: may open tickets and hears of replies to its own tickets."
    )
    product: bool = strawberry.field(description="Product and service emails.")
    domain: bool = strawberry.field(description="Domain emails.")
    affiliate: bool = strawberry.field(description="Affiliate emails.")


@strawberry.input(description="Categories to tick (true) or untick (false); omitted ones stay.")
class EmailPreferencesInput:
    general: bool | None = strawberry.field(default=strawberry.UNSET, description="General.")
    invoice: bool | None = strawberry.field(default=strawberry.UNSET, description="Invoices.")
    support: bool | None = strawberry.field(default=strawberry.UNSET, description="Support.")
    product: bool | None = strawberry.field(default=strawberry.UNSET, description="Products.")
    domain: bool | None = strawberry.field(default=strawberry.UNSET, description="Domains.")
    affiliate: bool | None = strawberry.field(default=strawberry.UNSET, description="Affiliates.")


@strawberry.type(description="A person of a client's: a contact, or a sub-account that logs in.")
class Contact(Node):
    id: strawberry.ID = strawberry.field(description="The contact's id.")
    client_id: strawberry.ID = strawberry.field(description="The client it belongs to.")
    first_name: str = strawberry.field(description="First name.")
    last_name: str = strawberry.field(description="Last name.")
    company_name: str | None = strawberry.field(description="Company name.")
    email: str = strawberry.field(description="Email address; a sub-account's login.")
    phone_number: str | None = strawberry.field(description="Phone number.")
    address: Address = strawberry.field(description="Postal address.")
    email_preferences: EmailPreferences = strawberry.field(
        description="Which client emails it receives a copy of."
    )
    sub_account: bool = strawberry.field(
        description="Whether it logs in to the client area with its own password, or is "
        "invited to (invitationPending)."
    )
    invitation_pending: bool = strawberry.field(
        description="A sub-account that cannot log in yet: its invitation was not accepted."
    )
    invitation_expires_at: datetime | None = strawberry.field(
        description="When the link of its pending invitation stops working (72 hours after "
        "it was sent); null when no invitation is pending. Turning subAccount on again sends "
        "a new one."
    )
    permissions: list[auth_permissions.ContactPermission] = strawberry.field(
        description="What it may do in the client area, when a sub-account."
    )
    created_at: datetime = strawberry.field(description="When it was added.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def build(cls, row: models.Contact) -> Contact:
        ticked = row.email_preferences
        return cls(
            id=global_id("Contact", row.id),
            client_id=global_id("Client", row.client_id),
            first_name=row.first_name,
            last_name=row.last_name,
            company_name=row.company_name,
            email=row.email,
            phone_number=row.phone_number,
            address=Address.of(row),
            email_preferences=EmailPreferences(
                general=EmailCategory.GENERAL in ticked,
                invoice=EmailCategory.INVOICE in ticked,
                support=EmailCategory.SUPPORT in ticked,
                product=EmailCategory.PRODUCT in ticked,
                domain=EmailCategory.DOMAIN in ticked,
                affiliate=EmailCategory.AFFILIATE in ticked,
            ),
            sub_account=row.sub_account,
            invitation_pending=row.invitation_pending,
            invitation_expires_at=(
                row.invited_at + INVITATION_TOKEN_TTL if row.invited_at is not None else None
            ),
            permissions=sorted(row.permissions),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.input(
    description="A contact's fields. Adding one needs first name, last name and email; "
    "updating changes only the fields given."
)
class ContactInput(PersonChangesInput):
    email_preferences: EmailPreferencesInput | None = strawberry.field(
        default=strawberry.UNSET, description="Email categories to receive copies of."
    )
    sub_account: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Make it a sub-account that logs in: with a password (staff) at once, "
        "otherwise by invitation, its address emailed a link to choose its password (true "
        "again sends a new link). False removes its login or invitation. Only the account "
        "holder or staff may set it.",
    )
    password: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The sub-account's password (8+ characters); ends its other sessions. "
        "Staff only: from the client area it is refused (FORBIDDEN), the sub-account's user "
        "chooses it from the invitation.",
    )
    permissions: list[auth_permissions.ContactPermission] | None = strawberry.field(
        default=strawberry.UNSET,
        description="The sub-account's client-area permissions (replaces the current set).",
    )


@strawberry.type(description="The result of a contact mutation.")
class ContactPayload:
    contact: Contact | None = strawberry.field(
        default=None, description="The contact; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
