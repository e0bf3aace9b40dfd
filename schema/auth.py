"""Login, sessions and the viewer."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from domain.auth import viewer as viewer_model
from schema.client_lists import ProductStatusFilter
from schema.common import UserError
from schema.context import SchemaContext
from schema.ids import global_id

ViewerKind = strawberry.enum(
    viewer_model.ViewerKind,
    description="STAFF: a staff member. CLIENT: a client's account holder. "
    "CONTACT: a client's sub-account. API_KEY: an integration's API key, acting for the staff "
    "member who made it (email is that member's).",
)


@strawberry.type(description="Who is logged in.")
class Viewer:
    kind: viewer_model.ViewerKind = strawberry.field(description="What kind of login this is.")
    email: str = strawberry.field(description="The login's email address.")
    client_id: strawberry.ID | None = strawberry.field(
        description="For CLIENT and CONTACT viewers, the client account they act for."
    )
    contact_id: strawberry.ID | None = strawberry.field(
        description="For CONTACT viewers (sub-accounts), their contact."
    )
    staff_role: str | None = strawberry.field(
        description="For STAFF and API_KEY viewers, their role."
    )
    permissions: list[str] = strawberry.field(
        description="What this viewer may do: staff permissions, or client-area permissions."
    )
    two_factor_passed: bool = strawberry.field(
        description="Whether this session was opened with a second factor (or confirmed one). "
        "While requireStaffTwoFactor is on, a staff session without may only set it up."
    )

    @strawberry.field(
        description="A staff session's choice of the statuses of services, addons and domains "
        "listed (SPEC 1.9); null for viewers that have none remembered (client area, API keys)."
    )
    async def product_status_filter(
        self, info: Info[SchemaContext, None]
    ) -> ProductStatusFilter | None:
        chosen = await info.context.product_status_filter()
        if chosen is None:
            return None
        return ProductStatusFilter(
            services=None if chosen.services is None else sorted(chosen.services),
            domains=None if chosen.domains is None else sorted(chosen.domains),
        )

    @classmethod
    def build(cls, viewer: viewer_model.Viewer) -> Viewer:
        permissions = sorted(
            p.value
            for p in (viewer.staff_permissions if viewer.is_staff else viewer.client_permissions)
        )
        return cls(
            kind=viewer.kind,
            email=viewer.email,
            client_id=global_id("Client", viewer.client_id) if viewer.client_id else None,
            contact_id=global_id("Contact", viewer.contact_id) if viewer.contact_id else None,
            staff_role=viewer.staff_role,
            permissions=permissions,
            two_factor_passed=viewer.two_factor_passed,
        )


@strawberry.type(description="The result of a login.")
class LoginPayload:
    token: str | None = strawberry.field(
        default=None, description="Session token for `Authorization: Bearer`; also set as a cookie."
    )
    viewer: Viewer | None = strawberry.field(default=None, description="Who is now logged in.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why the login was refused; empty on success."
    )


@strawberry.type(description="The answer to a password reset request: the same for every email.")
class RequestPasswordResetPayload:
    ok: bool = strawberry.field(
        default=False,
        description="True once the request is taken; it says nothing of whether the email "
        "belongs to a login.",
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why the request was refused; empty when taken."
    )


@strawberry.type(description="The result of following a password reset or invitation link.")
class ConfirmPasswordResetPayload:
    ok: bool = strawberry.field(default=False, description="True when the password was set.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type(description="A two-factor setup waiting for its confirmation code.")
class BeginTwoFactorSetupPayload:
    secret: str | None = strawberry.field(
        default=None,
        description="The TOTP secret (base32), shown this once: enter it in an authenticator.",
    )
    otpauth_uri: str | None = strawberry.field(
        default=None, description="The same secret as an otpauth:// URI, for a QR code."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why the setup was refused; empty on success."
    )


RECOVERY_CODES = (
    "Ten single-use recovery codes, shown only this once: each logs in (or turns two-factor "
    "off) in place of an authenticator code. Keep them somewhere safe."
)


@strawberry.type(description="The result of confirming a two-factor setup.")
class ConfirmTwoFactorSetupPayload:
    ok: bool = strawberry.field(default=False, description="True when two-factor login is on.")
    recovery_codes: list[str] = strawberry.field(default_factory=list, description=RECOVERY_CODES)
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type(description="New recovery codes of two-factor login; the earlier ones are void.")
class RecoveryCodesPayload:
    recovery_codes: list[str] = strawberry.field(default_factory=list, description=RECOVERY_CODES)
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
