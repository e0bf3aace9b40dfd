"""Affiliate accounts (SPEC 14.3): activated by the client area, referrals recorded when a
client is added with the code, and the balance paid out as credit by staff.

A payout locks the affiliate's row, so payouts of one balance at once queue: the second sees
the balance the first left (nothing) and is refused, and the credit is given once.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg

from domain import audit
from domain.affiliates.models import Affiliate, Balance, Commission, Referral
from domain.billing.invoices import key_owner
from domain.credit.ledger import record_entry
from domain.errors import DomainError, ErrorCode, NotFound
from domain.idempotency import idempotent
from domain.nested import first_of_each, grouped

# Letters and digits that cannot be read one for another (no 0/O, 1/I/L).
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
_COLUMNS = "id, client_id, referral_code, created_at"


def _new_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))


async def activate_affiliate(conn: asyncpg.Connection, client_id: int) -> Affiliate:
    """The client's affiliate account, made with a new referral code the first time; the
    same account (and code) every later time."""
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO affiliates (client_id, referral_code) VALUES ($1, $2)
               ON CONFLICT (client_id) DO NOTHING""",
            client_id,
            _new_code(),
        )
        found = await affiliates_by_client(conn, [client_id])
        return found[client_id]


async def record_referral(conn: asyncpg.Connection, client_id: int, referral_code: str) -> None:
    """The new client `client_id` was referred by the affiliate of `referral_code`; an
    unknown code is refused (NOT_FOUND on referral_code)."""
    affiliate_id = await conn.fetchval(
        "SELECT id FROM affiliates WHERE referral_code = $1 AND client_id <> $2",
        referral_code.strip().upper(),
        client_id,
    )
    if affiliate_id is None:
        raise DomainError.single(
            ErrorCode.NOT_FOUND, "No affiliate has this referral code.", "referral_code"
        )
    await conn.execute(
        "INSERT INTO affiliate_referrals (client_id, affiliate_id) VALUES ($1, $2)",
        client_id,
        affiliate_id,
    )


async def affiliates_by_client(
    conn: asyncpg.Connection, client_ids: Sequence[int]
) -> dict[int, Affiliate]:
    """The affiliate accounts of those clients that have one, with their balances."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM affiliates WHERE client_id = ANY($1::bigint[])",
        list(client_ids),
    )
    balances = await _balances(conn, [row["id"] for row in rows])
    return {
        row["client_id"]: Affiliate(**dict(row), balances=tuple(balances[row["id"]]))
        for row in rows
    }


async def _balances(
    conn: asyncpg.Connection, affiliate_ids: Sequence[int]
) -> dict[int, list[Balance]]:
    rows = await conn.fetch(
        """SELECT affiliate_id, currency, sum(amount) AS amount FROM (
               -- A reversed commission counts nothing, but still shows its currency.
               SELECT affiliate_id, currency,
                      CASE WHEN reversed_at IS NULL THEN amount ELSE 0 END AS amount
                 FROM affiliate_commissions WHERE affiliate_id = ANY($1::bigint[])
               UNION ALL
               SELECT affiliate_id, currency, -amount FROM affiliate_payouts
                WHERE affiliate_id = ANY($1::bigint[])
           ) moves GROUP BY affiliate_id, currency ORDER BY affiliate_id, currency""",
        list(affiliate_ids),
    )
    return grouped(
        rows, affiliate_ids, lambda r: Balance(r["currency"], r["amount"]), parent="affiliate_id"
    )


async def referrals_by_affiliate(
    conn: asyncpg.Connection, affiliate_ids: Sequence[int], *, per_affiliate: int | None = None
) -> dict[int, list[Referral]]:
    """Each affiliate's referrals, newest first; at most `per_affiliate` each."""
    rows = await conn.fetch(
        first_of_each(
            """SELECT r.affiliate_id, r.referred_at, c.status AS client_status
                 FROM affiliate_referrals r JOIN clients c ON c.id = r.client_id
                WHERE r.affiliate_id = {parent} ORDER BY r.client_id DESC"""
        ),
        list(affiliate_ids),
        per_affiliate,
    )
    return grouped(rows, affiliate_ids, lambda r: Referral(**dict(r)), parent="affiliate_id")


async def commissions_by_affiliate(
    conn: asyncpg.Connection, affiliate_ids: Sequence[int], *, per_affiliate: int | None = None
) -> dict[int, list[Commission]]:
    """Each affiliate's commissions, newest first; at most `per_affiliate` each."""
    rows = await conn.fetch(
        first_of_each(
            """SELECT affiliate_id, invoice_number, amount, currency, earned_at, reversed_at
                 FROM affiliate_commissions WHERE affiliate_id = {parent} ORDER BY id DESC"""
        ),
        list(affiliate_ids),
        per_affiliate,
    )
    return grouped(rows, affiliate_ids, lambda r: Commission(**dict(r)), parent="affiliate_id")


async def pay_balance(
    conn: asyncpg.Connection,
    client_id: int,
    *,
    staff_id: int | None,
    login_id: int | None,
    idempotency_key: str | None = None,
) -> Affiliate:
    """Pay the affiliate's balance in its client's currency out as that client's credit
    (balances in other currencies stay: credit never mixes currencies, SPEC 13.4). Refused
    when there is nothing to pay. With an idempotency key (of `login_id`), a retry returns
    the account unchanged."""
    async with conn.transaction():
        await idempotent(
            conn,
            login_id=key_owner(login_id, idempotency_key),
            key=idempotency_key,
            operation="payAffiliateBalance",
            arguments={"client_id": client_id},
            perform=lambda: _pay_balance(conn, client_id, staff_id),
        )
        return (await affiliates_by_client(conn, [client_id]))[client_id]


async def _pay_balance(
    conn: asyncpg.Connection, client_id: int, staff_id: int | None
) -> dict[str, Any]:
    affiliate = await conn.fetchrow(
        """SELECT a.id, c.currency FROM affiliates a JOIN clients c ON c.id = a.client_id
            WHERE a.client_id = $1 FOR UPDATE OF a""",
        client_id,
    )
    if affiliate is None:
        raise NotFound("Affiliate", "client_id")
    balances = await _balances(conn, [affiliate["id"]])
    owed = next(
        (b.amount for b in balances[affiliate["id"]] if b.currency == affiliate["currency"]),
        Decimal(0),
    )
    if owed <= 0:
        raise DomainError.single(
            ErrorCode.INVALID,
            f"There is no balance in {affiliate['currency']} to pay out.",
            "client_id",
        )
    payout_id = await conn.fetchval(
        """INSERT INTO affiliate_payouts (affiliate_id, amount, currency, staff_id)
           VALUES ($1, $2, $3, $4) RETURNING id""",
        affiliate["id"],
        owed,
        affiliate["currency"],
        staff_id,
    )
    await record_entry(
        conn,
        client_id=client_id,
        amount=owed,
        description="Affiliate commissions paid out",
        staff_id=staff_id,
    )
    await audit.record(
        conn,
        staff_id=staff_id,
        action="affiliate.paid_out",
        client_id=client_id,
        changes={"payout_id": payout_id, "amount": str(owed), "currency": affiliate["currency"]},
    )
    return {"payout": payout_id}
