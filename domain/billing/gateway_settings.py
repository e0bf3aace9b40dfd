"""The payment gateways staff manage (SPEC 13.1): listed, turned on and off, renamed.

Turning a gateway off rewrites nothing: clients, items and unpaid invoices that pay with it
keep it as their payment method (staff move them with setClientPaymentMethod), but while it
is off no invoice is captured through it and nobody can newly choose it (SPEC 13.1).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import asyncpg

from domain import audit
from domain.billing.gateways import MERCHANT_PLUGINS, TEST_GATEWAYS
from domain.errors import ErrorCode, NotFound
from domain.validation import InputCheck


class GatewayKind(StrEnum):
    MANUAL = "MANUAL"  # the client pays by other means; staff record the payment
    MERCHANT = "MERCHANT"  # captures a stored card (SPEC 9.5)


@dataclass(frozen=True)
class GatewaySetting:
    name: str
    display_name: str
    kind: GatewayKind
    enabled: bool
    # Money can go back through the gateway itself: a merchant plug-in with a `refund`.
    # Payments through a manual gateway are refunded as credit or recorded as manual refunds.
    can_refund: bool


def _setting(row: Mapping[str, Any]) -> GatewaySetting:
    kind = GatewayKind(row["kind"])
    plugin = MERCHANT_PLUGINS.get(row["name"]) if kind is GatewayKind.MERCHANT else None
    return GatewaySetting(
        name=row["name"],
        display_name=row["display_name"],
        kind=kind,
        enabled=row["enabled"],
        can_refund=callable(getattr(plugin, "refund", None)),
    )


async def list_gateways(conn: asyncpg.Connection) -> list[GatewaySetting]:
    rows = await conn.fetch(
        "SELECT name, display_name, kind, enabled FROM payment_gateways ORDER BY display_name, name"
    )
    return [_setting(row) for row in rows]


async def update_gateway(
    conn: asyncpg.Connection,
    name: str,
    *,
    enabled: bool | None,
    display_name: str | None,
    production: bool,
    loaded: Collection[str],
    staff_id: int | None,
) -> GatewaySetting:
    """Turn a gateway on or off and rename it; audited. The test gateway cannot be turned on
    in production, nor a merchant gateway this installation does not load (Stripe without
    STRIPE_SECRET_KEY); a blank display name is refused; any refusal changes nothing."""
    async with conn.transaction():
        before = await conn.fetchrow(
            "SELECT name, display_name, kind, enabled FROM payment_gateways WHERE name = $1 "
            "FOR UPDATE",
            name,
        )
        if before is None:
            raise NotFound("Payment gateway", "name")
        check = InputCheck()
        if enabled and production and name in TEST_GATEWAYS:
            check.fail(
                "enabled",
                ErrorCode.INVALID,
                "The test gateway approves any valid card number: it cannot be turned on "
                "with ENVIRONMENT=production.",
            )
        elif enabled and before["kind"] == GatewayKind.MERCHANT and name not in loaded:
            check.fail(
                "enabled",
                ErrorCode.NOT_CONFIGURED,
                f"'{name}' is not configured on this installation, so it cannot be turned on.",
            )
        if display_name is not None:
            display_name = check.required_text("display_name", display_name, "A display name")
        check.raise_if_failed()
        after = await conn.fetchrow(
            """UPDATE payment_gateways
                  SET enabled = coalesce($2, enabled), display_name = coalesce($3, display_name)
                WHERE name = $1
            RETURNING name, display_name, kind, enabled""",
            name,
            enabled,
            display_name,
        )
        changes = {
            field: [before[field], after[field]]
            for field in ("enabled", "display_name")
            if before[field] != after[field]
        }
        if changes:
            await audit.record(
                conn,
                staff_id=staff_id,
                action="payment_gateway.updated",
                client_id=None,
                changes={"name": name, **changes},
            )
    return _setting(after)
