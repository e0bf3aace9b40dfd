"""The stored card of a client: save, show, reveal, clear, and re-encrypt (SPEC 4).

The number exists in the clear only inside `save_card` and `reveal_card_number`; what is
stored, logged or audited is the card type, the last four digits and the dates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from domain import audit, secret_lists
from domain.billing.gateway_protocol import CardOnFile
from domain.cards.crypto import CardKeyError, CardKeyring, SealedNumber
from domain.cards.numbers import card_type, luhn_valid, normalise_number, parse_month_year
from domain.errors import DomainError, ErrorCode, NotFound
from domain.validation import InputCheck


@dataclass(frozen=True)
class StoredCard:
    """What staff see of a card (SPEC 4.1); never the number."""

    client_id: int
    card_type: str
    last_four: str
    expiry: str
    issue_number: str | None
    start_date: str | None
    updated_at: datetime


CARD_COLUMNS = "client_id, card_type, last_four, expiry, issue_number, start_date, updated_at"


async def cards_by_client(
    conn: asyncpg.Connection, client_ids: Sequence[int]
) -> dict[int, StoredCard]:
    rows = await conn.fetch(
        f"SELECT {CARD_COLUMNS} FROM cards WHERE client_id = ANY($1::bigint[])",
        list(client_ids),
    )
    return {row["client_id"]: StoredCard(**dict(row)) for row in rows}


def check_card(
    number: str, expiry: str, issue_number: str | None, start_date: str | None, today: date
) -> tuple[str, str, str, str | None, str | None]:
    """Validate a card as entered; return digits, type, expiry, issue number, start date."""
    check = InputCheck()
    digits = normalise_number(number)
    scheme = card_type(digits) if luhn_valid(digits) else None
    if not digits:
        check.fail("number", ErrorCode.REQUIRED, "The card number is required.")
    elif not luhn_valid(digits):
        check.fail("number", ErrorCode.INVALID, "This is not a valid card number.")
    elif scheme is None:
        check.fail("number", ErrorCode.INVALID, "This card type is not accepted.")
    this_month = today.replace(day=1)
    expires = parse_month_year(expiry)
    if expires is None:
        check.fail("expiry", ErrorCode.INVALID, "The expiry date is MM/YY.")
    elif expires < this_month:
        check.fail("expiry", ErrorCode.INVALID, "The card has expired.")
    issue = (issue_number or "").strip() or None
    if issue is not None and not (issue.isascii() and issue.isdigit() and len(issue) <= 4):
        check.fail("issue_number", ErrorCode.INVALID, "The issue number is 1 to 4 digits.")
    start = (start_date or "").strip() or None
    if start is not None:
        starts = parse_month_year(start)
        if starts is None:
            check.fail("start_date", ErrorCode.INVALID, "The start date is MM/YY.")
        elif starts > this_month:
            check.fail("start_date", ErrorCode.INVALID, "The start date is in the future.")
    check.raise_if_failed()
    assert scheme is not None
    return digits, scheme, expiry.strip(), issue, start


async def lock_client(conn: asyncpg.Connection, client_id: int) -> None:
    # Locking the client serialises card changes with merges and deletes of that client.
    if await conn.fetchval("SELECT 1 FROM clients WHERE id = $1 FOR UPDATE", client_id) is None:
        raise NotFound("Client", "client_id")


def _require_keyring(keyring: CardKeyring | None) -> CardKeyring:
    if keyring is None:
        raise DomainError.single(
            ErrorCode.NOT_CONFIGURED,
            "Card storage is not configured on this installation (CARD_ENCRYPTION_KEYS).",
        )
    return keyring


async def save_card(
    conn: asyncpg.Connection,
    keyring: CardKeyring | None,
    client_id: int,
    *,
    number: str,
    expiry: str,
    issue_number: str | None = None,
    start_date: str | None = None,
    staff_id: int | None,
    today: date | None = None,
) -> StoredCard:
    """Add or replace the client's card (SPEC 4.2). The CVV is never asked for."""
    digits, scheme, expiry, issue, start = check_card(
        number, expiry, issue_number, start_date, today or date.today()
    )
    sealer = _require_keyring(keyring)
    await lock_client(conn, client_id)
    sealed = sealer.seal(digits, client_id)
    card = await upsert_card(
        conn, client_id, (scheme, digits[-4:], expiry, issue, start), sealed=sealed
    )
    await audit.record(
        conn,
        staff_id=staff_id,
        action="card.save",
        client_id=client_id,
        changes={"cardType": card.card_type, "lastFour": card.last_four, "expiry": card.expiry},
    )
    return card


async def upsert_card(
    conn: asyncpg.Connection,
    client_id: int,
    shown: tuple[str, str, str, str | None, str | None],
    *,
    sealed: SealedNumber | None = None,
    gateway: str | None = None,
    customer: str | None = None,
    payment_method: str | None = None,
) -> StoredCard:
    """Add or replace the client's card row: what staff see of it (`shown`: type, last four,
    expiry, issue number, start date) and either its number sealed here or the ids of the
    gateway that keeps it (SPEC 4.5). Every column is written, so a card kept one way
    leaves nothing of the other behind."""
    row = await conn.fetchrow(
        f"""INSERT INTO cards (client_id, card_type, last_four, expiry, issue_number,
                               start_date, key_version, nonce, ciphertext, gateway,
                               gateway_customer, gateway_payment_method)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (client_id) DO UPDATE
               SET card_type = EXCLUDED.card_type, last_four = EXCLUDED.last_four,
                   expiry = EXCLUDED.expiry, issue_number = EXCLUDED.issue_number,
                   start_date = EXCLUDED.start_date, key_version = EXCLUDED.key_version,
                   nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext,
                   gateway = EXCLUDED.gateway, gateway_customer = EXCLUDED.gateway_customer,
                   gateway_payment_method = EXCLUDED.gateway_payment_method,
                   updated_at = now()
            RETURNING {CARD_COLUMNS}""",
        client_id,
        *shown,
        sealed.key_version if sealed else None,
        sealed.nonce if sealed else None,
        sealed.ciphertext if sealed else None,
        gateway,
        customer,
        payment_method,
    )
    return StoredCard(**dict(row))


async def clear_card(conn: asyncpg.Connection, client_id: int, *, staff_id: int | None) -> bool:
    """Remove every trace of the card (SPEC 4.4); False when there was none."""
    await lock_client(conn, client_id)
    removed = await conn.fetchrow(
        "DELETE FROM cards WHERE client_id = $1 RETURNING card_type, last_four", client_id
    )
    if removed is not None:
        await audit.record(
            conn,
            staff_id=staff_id,
            action="card.clear",
            client_id=client_id,
            changes={"cardType": removed["card_type"], "lastFour": removed["last_four"]},
        )
    return removed is not None


async def reveal_card_number(
    conn: asyncpg.Connection,
    keyring: CardKeyring | None,
    client_id: int,
    *,
    presented_secret: str,
    installation_secrets: Sequence[str],
    staff_id: int | None,
) -> str | None:
    """The full number for staff presenting the card secret (SPEC 4.3), else None.

    Every attempt is audited, refused ones too; the caller commits the audit entry either
    way, so a refusal is returned rather than raised."""
    await lock_client(conn, client_id)
    row = await conn.fetchrow(
        "SELECT key_version, nonce, ciphertext, last_four, gateway FROM cards WHERE client_id = $1",
        client_id,
    )
    if row is None:
        raise DomainError.single(ErrorCode.NOT_FOUND, "The client has no stored card.", "client_id")
    if row["gateway"] is not None:
        raise DomainError.single(
            ErrorCode.NOT_FOUND,
            f"The card is kept by {row['gateway']}: its number was never stored here.",
            "client_id",
        )
    granted = secret_lists.matches_any(presented_secret, installation_secrets)
    await audit.record(
        conn,
        staff_id=staff_id,
        action="card.reveal" if granted else "card.reveal_refused",
        client_id=client_id,
        changes={"lastFour": row["last_four"]},
    )
    if not granted:
        return None
    sealed = SealedNumber(row["key_version"], row["nonce"], row["ciphertext"])
    return _require_keyring(keyring).open(sealed, client_id)


async def cards_to_rotate(conn: asyncpg.Connection, keyring: CardKeyring) -> int:
    value: int = await conn.fetchval(
        "SELECT count(*) FROM cards WHERE key_version <> $1", keyring.current_version
    )
    return value


async def rotate_card_keys(
    pool: asyncpg.Pool,
    keyring: CardKeyring,
    *,
    batch_size: int = 500,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Re-encrypt every card not under the newest key; return how many were.

    Batches commit one by one, so a long rotation holds few locks and can be resumed: a card
    is either still under its old key or already under the new one, never in between."""
    rotated = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT client_id, key_version, nonce, ciphertext FROM cards
                    WHERE key_version <> $1 ORDER BY client_id LIMIT $2
                    FOR UPDATE""",
                keyring.current_version,
                batch_size,
            )
            if not rows:
                return rotated
            resealed = []
            for row in rows:
                old = SealedNumber(row["key_version"], row["nonce"], row["ciphertext"])
                new = keyring.seal(keyring.open(old, row["client_id"]), row["client_id"])
                resealed.append((row["client_id"], new.key_version, new.nonce, new.ciphertext))
            await conn.executemany(
                """UPDATE cards SET key_version = $2, nonce = $3, ciphertext = $4
                    WHERE client_id = $1""",
                resealed,
            )
        rotated += len(rows)
        if on_batch is not None:
            on_batch(len(rows))


async def card_on_file(
    conn: asyncpg.Connection, keyring: CardKeyring | None, client_id: int
) -> CardOnFile | None:
    """The stored card to charge (SPEC 9.5, 13.2): its number, or the ids of the gateway
    that keeps it (SPEC 4.5). None when the client has no card, or its number cannot be
    opened (no card keys, or not under them): the invoice is then left for the client to
    pay. Not audited: no person sees it."""
    row = await conn.fetchrow(
        """SELECT key_version, nonce, ciphertext, gateway_customer, gateway_payment_method
             FROM cards WHERE client_id = $1""",
        client_id,
    )
    if row is None:
        return None
    if row["gateway_payment_method"] is not None:
        return CardOnFile(reference=row["gateway_payment_method"], customer=row["gateway_customer"])
    if keyring is None:
        return None
    try:
        number = keyring.open(
            SealedNumber(row["key_version"], row["nonce"], row["ciphertext"]), client_id
        )
    except CardKeyError:
        return None
    return CardOnFile(number=number)
