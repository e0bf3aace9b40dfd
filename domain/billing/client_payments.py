"""A client pays its own invoice (SPEC 13.2): with its credit, or with its stored card
through the invoice's merchant gateway, unless card processing is disabled for it (1.5).
A declined card leaves the invoice unpaid and says why.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import asyncpg

from domain.billing.credit_use import apply_credit, lock_invoice, require_unpaid
from domain.billing.gateway_protocol import PaymentGateway
from domain.billing.gateways import capture_invoice
from domain.billing.invoices import get_invoice, key_owner
from domain.billing.models import Invoice, Transaction
from domain.billing.payments import TRANSACTION_COLUMNS, Payment, transaction_from_row
from domain.cards.crypto import CardKeyring
from domain.cards.services import card_on_file
from domain.errors import DomainError, ErrorCode
from domain.idempotency import idempotent


class PaymentSource(StrEnum):
    CREDIT = "CREDIT"
    STORED_CARD = "STORED_CARD"


async def pay_invoice(
    conn: asyncpg.Connection,
    invoice_id: int,
    *,
    client_id: int,
    source: PaymentSource,
    gateways: Mapping[str, PaymentGateway],
    card_keyring: CardKeyring | None,
    client_area_url: str,
    login_id: int,
    idempotency_key: str | None = None,
) -> tuple[Invoice, Transaction | None]:
    """Pay `client_id`'s invoice from `source`; another client's invoice is not found. The
    invoice, and the card payment's transaction (None for credit).

    With an idempotency key, a retry returns the invoice unchanged: the key is claimed for
    the whole attempt, so a retry while the card is being charged waits for its answer."""
    if source is PaymentSource.CREDIT:
        paid = await apply_credit(
            conn,
            invoice_id,
            amount=None,
            client_id=client_id,
            staff_id=None,
            login_id=login_id,
            idempotency_key=idempotency_key,
            operation="payInvoice",
        )
        return paid, None
    async with conn.transaction():
        done = await idempotent(
            conn,
            login_id=key_owner(login_id, idempotency_key),
            key=idempotency_key,
            operation="payInvoice.card",
            arguments={"invoice_id": invoice_id},
            perform=lambda: _pay_by_card(
                conn,
                invoice_id,
                client_id,
                gateways,
                card_keyring,
                client_area_url,
                # The gateway's key: the client's, so that its retry after a crash between
                # the charge and our commit gets that charge back, not a second one.
                f"pay-invoice-{invoice_id}-{login_id}-{idempotency_key}"
                if idempotency_key
                else f"pay-invoice-{invoice_id}-{secrets.token_hex(8)}",
            ),
        )
        invoice = await get_invoice(conn, invoice_id)
        row = await conn.fetchrow(
            f"SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE id = $1", done["transaction"]
        )
        assert invoice is not None and row is not None
        return invoice, transaction_from_row(row)


async def _pay_by_card(
    conn: asyncpg.Connection,
    invoice_id: int,
    client_id: int,
    gateways: Mapping[str, PaymentGateway],
    card_keyring: CardKeyring | None,
    client_area_url: str,
    gateway_key: str,
) -> dict[str, Any]:
    # The invoice stays locked while the card is charged: two payments of it at once must
    # not both charge the card. Nothing else waits on the row but its own payments.
    invoice = await lock_invoice(conn, invoice_id, client_id=client_id, field="invoiceId")
    require_unpaid(invoice, "invoiceId")
    if await conn.fetchval("SELECT cc_processing_disabled FROM clients WHERE id = $1", client_id):
        raise DomainError.single(
            ErrorCode.FORBIDDEN,
            "Card payments are turned off for this account; pay with credit or contact us.",
            "source",
        )
    merchant = await conn.fetchval(
        "SELECT kind = 'MERCHANT' AND enabled FROM payment_gateways WHERE name = $1",
        invoice["payment_method"],
    )
    gateway = gateways.get(invoice["payment_method"]) if merchant else None
    if gateway is None:
        raise DomainError.single(
            ErrorCode.NOT_CONFIGURED, "This invoice is not paid by card.", "source"
        )
    card = await card_on_file(conn, card_keyring, client_id)
    if card is None:
        raise DomainError.single(
            ErrorCode.NOT_CONFIGURED, "There is no stored card to pay with.", "source"
        )
    payment = await capture_invoice(
        conn,
        invoice,
        gateway,
        card,
        idempotency_key=gateway_key,
        client_area_url=client_area_url,
    )
    if not isinstance(payment, Payment):
        code = ErrorCode.GATEWAY_UNAVAILABLE if payment.unavailable else ErrorCode.PAYMENT_DECLINED
        raise DomainError.single(code, payment.message or "The card was declined.", "source")
    return {"transaction": payment.transaction.id}
