"""Installation settings types."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from domain import settings as settings_model
from schema.common import UserError

ClientDisplayFormat = strawberry.enum(
    settings_model.ClientDisplayFormat,
    description='How client names show: NAME_ONLY "Joe Bloggs"; COMPANY_IF_SET "Demo Company" '
    '(else the name); NAME_AND_COMPANY "Joe Bloggs (Demo Company)".',
)
PasswordResetMode = strawberry.enum(
    settings_model.PasswordResetMode,
    description="CHOOSE_PASSWORD: the user sets a new password with the emailed link. "
    "EMAIL_RANDOM: following the link sets a random password and emails it.",
)

CommissionType = strawberry.enum(
    settings_model.CommissionType,
    description="PERCENTAGE: that percentage of the paid invoice's subtotal. FIXED: that "
    "amount, in the invoice's currency.",
)


@strawberry.type(description="General settings of the installation.")
class GeneralSettings:
    client_display_format: settings_model.ClientDisplayFormat = strawberry.field(
        description="How client names are displayed."
    )
    password_reset_mode: settings_model.PasswordResetMode = strawberry.field(
        description="How a forgotten password is reset."
    )
    create_invoice_days_before: int = strawberry.field(
        description="How many days before their due date services are invoiced (SPEC 9.5)."
    )
    apply_credit_automatically: bool = strawberry.field(
        description="Whether available credit is applied to new invoices (SPEC 3.5)."
    )
    require_staff_two_factor: bool = strawberry.field(
        description="Whether staff must use two-factor login: a staff session that did not "
        "pass it may only set it up, and reveals no card number (SPEC 11.2)."
    )
    company_name: str = strawberry.field(
        description="The business's name, at the head of every invoice; empty until set."
    )
    company_address: str = strawberry.field(
        description="The business's postal address, one line per line, under its name on "
        "every invoice and email; empty until set."
    )
    logo_url: str = strawberry.field(
        description="The https address of the business's logo, shown in the HTML part of "
        "every email; empty: none."
    )
    email_signature: str = strawberry.field(
        description="What every email is signed with, one line per line; empty: the company name."
    )
    default_language: str = strawberry.field(
        description="The language (en, de) of the emails of clients whose language has no "
        "emails written in it (SPEC 15.3)."
    )
    affiliate_commission_type: settings_model.CommissionType = strawberry.field(
        description="How the commission of a referred client's paid invoice is worked out."
    )
    affiliate_commission: Decimal = strawberry.field(
        description="The commission: a percentage (0–100) or a fixed amount (SPEC 14.3)."
    )

    @classmethod
    def build(cls, value: settings_model.GeneralSettings) -> GeneralSettings:
        return cls(
            client_display_format=value.client_display_format,
            password_reset_mode=value.password_reset_mode,
            create_invoice_days_before=value.create_invoice_days_before,
            apply_credit_automatically=value.apply_credit_automatically,
            require_staff_two_factor=value.require_staff_two_factor,
            company_name=value.company_name,
            company_address=value.company_address,
            logo_url=value.logo_url,
            email_signature=value.email_signature,
            default_language=value.default_language,
            affiliate_commission_type=value.affiliate_commission_type,
            affiliate_commission=value.affiliate_commission,
        )


@strawberry.input(description="Changes to the general settings; omitted ones keep their value.")
class GeneralSettingsInput:
    client_display_format: settings_model.ClientDisplayFormat | None = strawberry.field(
        default=strawberry.UNSET, description="How client names are displayed."
    )
    password_reset_mode: settings_model.PasswordResetMode | None = strawberry.field(
        default=strawberry.UNSET, description="How a forgotten password is reset."
    )
    create_invoice_days_before: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="How many days before their due date services are invoiced, 0–365.",
    )
    apply_credit_automatically: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Apply available credit to new invoices."
    )
    require_staff_two_factor: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Require two-factor login of staff (staff sessions without it may only "
        "set it up).",
    )
    company_name: str | None = strawberry.field(
        default=strawberry.UNSET, description="The business's name, shown on invoices."
    )
    company_address: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The business's postal address, one line per line, shown on invoices.",
    )
    logo_url: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The https address of the logo every email shows; empty: none.",
    )
    email_signature: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="What every email is signed with; empty: the company name.",
    )
    default_language: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The language of emails to clients whose language has none (en, de).",
    )
    affiliate_commission_type: settings_model.CommissionType | None = strawberry.field(
        default=strawberry.UNSET, description="PERCENTAGE or FIXED."
    )
    affiliate_commission: Decimal | None = strawberry.field(
        default=strawberry.UNSET,
        description="A percentage (0–100) or an amount, zero or more: zero earns nothing.",
    )


@strawberry.type(description="The result of changing the general settings.")
class GeneralSettingsPayload:
    settings: GeneralSettings | None = strawberry.field(
        default=None, description="The settings now in force."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
