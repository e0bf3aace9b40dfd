"""Cards a gateway keeps (SPEC 4.5): a client who pays through a tokenising gateway (Stripe)
has its card stored there, and we keep the gateway's customer and payment method ids, the
card's type, last four digits and dates, never its number. Every other client's card is
encrypted here (`services.save_card`), for the gateways that are handed a number.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import cast

import asyncpg

from domain import audit
from domain.billing.gateway_protocol import (
    CardRefused,
    CardToStore,
    GatewayUnavailable,
    PaymentGateway,
    TokenisingGateway,
)
from domain.cards.crypto import CardKeyring
from domain.cards.services import (
    StoredCard,
    check_card,
    clear_card,
    lock_client,
    save_card,
    upsert_card,
)
from domain.errors import DomainError, ErrorCode, NotFound


async def keeping_gateway(
    conn: asyncpg.Connection, gateways: Mapping[str, PaymentGateway], client_id: int
) -> TokenisingGateway | None:
    """The gateway that keeps the client's card: its payment method's, when that gateway is
    loaded, enabled and keeps cards."""
    method = await conn.fetchval(
        """SELECT g.name FROM clients c JOIN payment_gateways g ON g.name = c.default_payment_method
            WHERE c.id = $1 AND g.kind = 'MERCHANT' AND g.enabled""",
        client_id,
    )
    gateway = gateways.get(method) if method is not None else None
    if gateway is None or not callable(getattr(gateway, "store_card", None)):
        return None
    return cast(TokenisingGateway, gateway)


async def store_card(
    conn: asyncpg.Connection,
    keyring: CardKeyring | None,
    gateways: Mapping[str, PaymentGateway],
    client_id: int,
    *,
    number: str,
    expiry: str,
    issue_number: str | None = None,
    start_date: str | None = None,
    cvc: str | None = None,
    staff_id: int | None,
    today: date | None = None,
) -> StoredCard:
    """Add or replace the client's card (SPEC 4.2): with the gateway that keeps it, else
    encrypted here. The CVV goes to that gateway once, for its check, and is never stored."""
    gateway = await keeping_gateway(conn, gateways, client_id)
    if gateway is None:
        return await save_card(
            conn,
            keyring,
            client_id,
            number=number,
            expiry=expiry,
            issue_number=issue_number,
            start_date=start_date,
            staff_id=staff_id,
            today=today,
        )
    digits, scheme, expiry, issue, start = check_card(
        number, expiry, issue_number, start_date, today or date.today()
    )
    client = await conn.fetchrow(
        """SELECT c.email, concat_ws(' ', c.first_name, c.last_name) AS name, k.customer
             FROM clients c
             LEFT JOIN gateway_customers k ON k.client_id = c.id AND k.gateway = $2
            WHERE c.id = $1""",
        client_id,
        gateway.name,
    )
    if client is None:
        raise NotFound("Client", "client_id")
    month, year = expiry.split("/")
    # The gateway is called before any lock is taken: nothing waits while it answers.
    try:
        kept = await gateway.store_card(
            CardToStore(
                client_id=client_id,
                number=digits,
                exp_month=int(month),
                exp_year=2000 + int(year),
                cvc=(cvc or "").strip() or None,
                email=client["email"],
                name=client["name"],
            ),
            customer=client["customer"],
        )
    except CardRefused as refusal:
        raise DomainError.single(ErrorCode.PAYMENT_DECLINED, str(refusal), "number") from None
    except GatewayUnavailable as failure:
        raise DomainError.single(ErrorCode.GATEWAY_UNAVAILABLE, str(failure)) from None
    await lock_client(conn, client_id)
    await conn.execute(
        """INSERT INTO gateway_customers (client_id, gateway, customer) VALUES ($1, $2, $3)
           ON CONFLICT (client_id, gateway) DO UPDATE SET customer = EXCLUDED.customer""",
        client_id,
        gateway.name,
        kept.customer,
    )
    card = await upsert_card(
        conn,
        client_id,
        (scheme, digits[-4:], expiry, issue, start),
        gateway=gateway.name,
        customer=kept.customer,
        payment_method=kept.reference,
    )
    await audit.record(
        conn,
        staff_id=staff_id,
        action="card.save",
        client_id=client_id,
        changes={
            "cardType": card.card_type,
            "lastFour": card.last_four,
            "expiry": card.expiry,
            "keptBy": gateway.name,
        },
    )
    return card


async def forget_card(
    conn: asyncpg.Connection,
    gateways: Mapping[str, PaymentGateway],
    client_id: int,
    *,
    staff_id: int | None,
) -> bool:
    """Clear the client's card (SPEC 4.4); one its gateway keeps is first taken off the
    gateway's customer, so that nothing can charge it. False when there was no card. A
    gateway that cannot be reached refuses it (GATEWAY_UNAVAILABLE), clearing nothing."""
    card = await conn.fetchrow(
        "SELECT gateway, gateway_payment_method FROM cards WHERE client_id = $1", client_id
    )
    if card is not None and card["gateway"] is not None:
        gateway = gateways.get(card["gateway"])
        if not callable(getattr(gateway, "forget_card", None)):
            raise DomainError.single(
                ErrorCode.NOT_CONFIGURED,
                f"The card is kept by {card['gateway']}, which is not configured here: "
                "it cannot be taken off there.",
            )
        try:
            await cast(TokenisingGateway, gateway).forget_card(card["gateway_payment_method"])
        except GatewayUnavailable as failure:
            raise DomainError.single(ErrorCode.GATEWAY_UNAVAILABLE, str(failure)) from None
    return await clear_card(conn, client_id, staff_id=staff_id)
