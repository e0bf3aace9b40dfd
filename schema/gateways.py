"""Payment gateway types, inputs and payloads (SPEC 13.1)."""

from __future__ import annotations

import strawberry

from domain.billing.gateway_settings import GatewayKind, GatewaySetting
from schema.common import UserError

PaymentGatewayKind = strawberry.enum(
    GatewayKind,
    name="PaymentGatewayKind",
    description="MERCHANT: captures a stored card (SPEC 9.5). MANUAL: the client pays by "
    "other means (bank transfer, mail) and staff record the payment.",
)


@strawberry.type(description="A way of paying invoices that staff can turn on and off.")
class PaymentGateway:
    name: str = strawberry.field(
        description="Its fixed name, the payment method of clients, items and invoices."
    )
    display_name: str = strawberry.field(description="The name shown to people.")
    kind: GatewayKind = strawberry.field(description="MERCHANT or MANUAL.")
    enabled: bool = strawberry.field(
        description="Whether it can be chosen and, for a merchant gateway, captures."
    )
    can_refund: bool = strawberry.field(
        description="Whether money goes back through the gateway itself; payments through "
        "one that cannot are refunded as credit or recorded as manual refunds."
    )

    @classmethod
    def build(cls, row: GatewaySetting) -> PaymentGateway:
        return cls(
            name=row.name,
            display_name=row.display_name,
            kind=row.kind,
            enabled=row.enabled,
            can_refund=row.can_refund,
        )


@strawberry.input(description="Changes to a payment gateway; omitted ones keep their value.")
class PaymentGatewayInput:
    enabled: bool | None = strawberry.field(
        default=None,
        description="Turn it on or off. Turning it off moves nobody: clients and invoices "
        "that pay with it keep it, but nothing is captured through it while it is off.",
    )
    display_name: str | None = strawberry.field(
        default=None, description="A new name shown to people; not blank."
    )


@strawberry.type(description="The result of changing a payment gateway.")
class PaymentGatewayPayload:
    gateway: PaymentGateway | None = strawberry.field(
        default=None, description="The gateway as it now is; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
