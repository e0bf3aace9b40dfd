"""What a request shows of clients: the parts each viewer may read, and what mapping a
client row needs to know of the request (display format, currencies), computed once."""

from __future__ import annotations

from dataclasses import dataclass, field

import strawberry

from domain.auth.permissions import ContactPermission, StaffPermission
from domain.auth.viewer import Viewer
from domain.clients import models
from domain.settings import ClientDisplayFormat
from schema.access import may_read


@strawberry.type(description="A currency amounts are shown in.")
class Currency:
    code: str = strawberry.field(description="ISO 4217 code, e.g. USD.")
    prefix: str = strawberry.field(description="Shown before amounts, e.g. $.")
    suffix: str = strawberry.field(description="Shown after amounts, e.g. ' USD'.")


# A client's billing settings (SPEC 1.5): how it is charged, taxed, invoiced and chased. A
# sub-account reads them with INVOICES; staff change them with MANAGE_BILLING.
BILLING_SETTINGS = (
    "overdue_notices_disabled",
    "late_fees_exempt",
    "tax_exempt",
    "separate_invoices",
    "cc_processing_disabled",
    "default_payment_method",
)
# What a sub-account must have been granted to read each part of its own client (SPEC 2.4).
# Staff who reached a client through a root field, and the account holder, read all of it;
# the parts not named here (id, status, currency, createdAt) come with reaching the client,
# and `contacts`, `defaultBillingContact` and `emails` check their own permission.
CLIENT_AREA_FIELD_PERMISSIONS: dict[str, ContactPermission] = {
    **dict.fromkeys(
        (
            "first_name",
            "last_name",
            "company_name",
            "email",
            "phone_number",
            "address",
            "display_name",
            "language",
            "two_factor_enabled",
            "last_login_at",
            "updated_at",
        ),
        ContactPermission.PROFILE,
    ),
    **dict.fromkeys(
        ("credit_balance", *BILLING_SETTINGS),
        ContactPermission.INVOICES,
    ),
}


def withheld_client_fields(viewer: Viewer | None) -> dict[str, ContactPermission]:
    """The Client fields this viewer may not read, with the permission each needs."""
    if viewer is None or viewer.is_staff:
        return {}
    return {
        name: permission
        for name, permission in CLIENT_AREA_FIELD_PERMISSIONS.items()
        if not viewer.has_client_permission(permission)
    }


@dataclass(frozen=True)
class ClientPresentation:
    """What mapping a client row needs to know of the request, computed once per request."""

    display_format: ClientDisplayFormat
    currencies: dict[str, models.Currency]
    viewer_is_staff: bool
    # Decided once per request from the viewer, so that reading a client costs no
    # per-field check (`withheld_client_fields`); empty for staff and account holders.
    withheld_fields: dict[str, ContactPermission] = field(default_factory=dict)
    # The Currency objects of this request, one per code, shared by the clients built.
    _currency_types: dict[str, Currency] = field(default_factory=dict, compare=False, repr=False)

    def currency(self, code: str) -> Currency:
        shown = self._currency_types.get(code)
        if shown is None:
            currency = self.currencies[code]
            shown = Currency(code=currency.code, prefix=currency.prefix, suffix=currency.suffix)
            self._currency_types[code] = shown
        return shown


def may_read_emails(viewer: Viewer | None) -> bool:
    """Whether the viewer may read clients' email logs (`Client.emails`)."""
    return may_read(viewer, staff=StaffPermission.VIEW_EMAILS, client_area=ContactPermission.EMAILS)
