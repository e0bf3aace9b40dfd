"""Merging two clients into one (SPEC 7.1).

Staff pick two clients and which profile stays. Everything of the other moves to the kept one
in one transaction, and the other is removed, leaving a redirect from its id. Choices made for
what the SPEC leaves open:
- any status may be merged (a CLOSED duplicate is the usual case); the kept status stays;
- the kept profile (name, email, flags, billing contact) stays; the other's notes are appended
  under a line naming where they came from;
- clients in different currencies are refused only when both have billing history
  (invoices, transactions or credit entries); when only the other one has, the kept client
  takes its currency, so that the moved amounts keep meaning what they said;
- the removed client's owner login is deleted, which ends its sessions: it no longer opens
  any account. Its contacts move with their logins and permissions, now on the kept client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

import asyncpg

from domain import audit
from domain.cards.crypto import CardKeyring, SealedNumber
from domain.clients.models import Client
from domain.clients.queries import get_client
from domain.clients.related import CLIENT_TABLES
from domain.errors import DomainError, ErrorCode, FieldError
from domain.money import check_storable


class MergeKeep(StrEnum):
    FIRST = "FIRST"
    SECOND = "SECOND"


@dataclass(frozen=True)
class _Side:
    id: int
    owner_login_id: int
    name: str
    company_name: str | None
    email: str
    currency: str
    notes: str | None
    credit_balance: Decimal
    has_billing: bool


_LOCK_BOTH = """
SELECT c.id, c.owner_login_id, c.first_name || ' ' || c.last_name AS name, c.company_name,
       c.email::text, c.currency, c.notes, c.credit_balance,
       EXISTS (SELECT 1 FROM invoices WHERE client_id = c.id)
       OR EXISTS (SELECT 1 FROM transactions WHERE client_id = c.id)
       OR EXISTS (SELECT 1 FROM credit_log WHERE client_id = c.id) AS has_billing
  FROM clients c WHERE c.id = ANY($1::bigint[])
 ORDER BY c.id
   FOR UPDATE OF c"""


async def merge_clients(
    conn: asyncpg.Connection,
    first_id: int,
    second_id: int,
    keep: MergeKeep,
    *,
    keyring: CardKeyring | None,
    staff_id: int | None,
) -> Client:
    """Move everything of the client not kept to the kept one and remove it; return the kept
    client. Refused, with nothing changed, for the same client twice, an unknown client,
    currencies that would mix billing history, or credit balances whose sum is more than a
    balance can hold."""
    if first_id == second_id:
        raise DomainError.single(
            ErrorCode.INVALID, "A client cannot be merged with itself.", "second_id"
        )
    async with conn.transaction():
        # Both rows locked in id order: a merge racing another merge of either client, or a
        # credit change (which locks the same row), waits instead of deadlocking; whatever
        # committed first is seen and moved.
        locked = await conn.fetch(_LOCK_BOTH, [first_id, second_id])
        rows = {row["id"]: _Side(**dict(row)) for row in locked}
        missing = [
            FieldError(field, ErrorCode.NOT_FOUND, "Client not found.")
            for field, pk in (("first_id", first_id), ("second_id", second_id))
            if pk not in rows
        ]
        if missing:
            raise DomainError(missing)
        kept, other = (
            (rows[first_id], rows[second_id])
            if keep is MergeKeep.FIRST
            else (rows[second_id], rows[first_id])
        )
        if kept.currency != other.currency and kept.has_billing and other.has_billing:
            raise DomainError.single(
                ErrorCode.CONFLICT,
                f"Both clients have billing history, in {kept.currency} and {other.currency};"
                " they cannot be merged.",
                "second_id",
            )
        check_storable(
            kept.credit_balance + other.credit_balance, "second_id", "The merged credit balance"
        )
        card_moved = await _move_card(conn, keyring, other.id, kept.id)
        # The removed client's billing contact points at (contact, its own id): let go of it
        # before its contacts move.
        await conn.execute("UPDATE clients SET billing_contact_id = NULL WHERE id = $1", other.id)
        moved = {}
        for related in CLIENT_TABLES:
            status = await conn.execute(
                f"UPDATE {related.table} SET {related.column} = $1 WHERE {related.column} = $2",
                kept.id,
                other.id,
            )
            moved[related.table] = int(status.split()[-1])
        await conn.execute(
            "INSERT INTO client_merges (merged_id, into_id, staff_id) VALUES ($1, $2, $3)",
            other.id,
            kept.id,
            staff_id,
        )
        await conn.execute("DELETE FROM clients WHERE id = $1", other.id)
        # Its login goes with it (and its sessions by cascade): it opens no account any more.
        await conn.execute("DELETE FROM logins WHERE id = $1", other.owner_login_id)
        await conn.execute(
            """UPDATE clients SET credit_balance = credit_balance + $2, notes = $3,
                      currency = $4, updated_at = now()
                WHERE id = $1""",
            kept.id,
            other.credit_balance,
            _merged_notes(kept, other),
            other.currency if other.has_billing and not kept.has_billing else kept.currency,
        )
        await audit.record(
            conn,
            staff_id=staff_id,
            action="client.merged",
            client_id=kept.id,
            changes={
                "mergedClientId": other.id,
                "mergedClient": {
                    "name": other.name,
                    "companyName": other.company_name,
                    "email": other.email,
                    "currency": other.currency,
                    "creditBalance": str(other.credit_balance),
                },
                "moved": {table: count for table, count in moved.items() if count},
                "cardMoved": card_moved,
            },
        )
        client = await get_client(conn, kept.id)
        assert client is not None
        return client


def _merged_notes(kept: _Side, other: _Side) -> str | None:
    if not (other.notes or "").strip():
        return kept.notes
    origin = f"[Notes of client #{other.id} ({other.name}), merged into this one]"
    moved = f"{origin}\n{other.notes}"
    return f"{kept.notes}\n\n{moved}" if (kept.notes or "").strip() else moved


_SHOWN_CARD_COLUMNS = ("card_type", "last_four", "expiry", "issue_number", "start_date")


async def _move_card(
    conn: asyncpg.Connection, keyring: CardKeyring | None, from_id: int, to_id: int
) -> bool:
    """The kept client's card stays; when it has none, the other's moves, re-encrypted for its
    new owner (the ciphertext is bound to the client id). Returns whether a card moved."""
    other = await conn.fetchrow("DELETE FROM cards WHERE client_id = $1 RETURNING *", from_id)
    if other is None or await conn.fetchval("SELECT 1 FROM cards WHERE client_id = $1", to_id):
        return False
    if other["gateway"] is not None:
        # A card its gateway keeps is only ids, bound to no client id here: it moves as it is.
        await conn.execute(
            """INSERT INTO cards (client_id, card_type, last_four, expiry, issue_number,
                                  start_date, gateway, gateway_customer, gateway_payment_method)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            to_id,
            *(other[c] for c in _SHOWN_CARD_COLUMNS),
            other["gateway"],
            other["gateway_customer"],
            other["gateway_payment_method"],
        )
        return True
    if keyring is None:
        raise DomainError.single(
            ErrorCode.NOT_CONFIGURED,
            "The card of the removed client cannot move: card storage is not configured"
            " (CARD_ENCRYPTION_KEYS).",
        )
    stored = SealedNumber(other["key_version"], other["nonce"], other["ciphertext"])
    sealed = keyring.seal(keyring.open(stored, from_id), to_id)
    await conn.execute(
        """INSERT INTO cards (client_id, card_type, last_four, expiry, issue_number, start_date,
                              key_version, nonce, ciphertext)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        to_id,
        *(other[c] for c in _SHOWN_CARD_COLUMNS),
        sealed.key_version,
        sealed.nonce,
        sealed.ciphertext,
    )
    return True


async def merged_into(conn: asyncpg.Connection, client_ids: Sequence[int]) -> dict[int, int]:
    """Of these removed ids, those merged into a client: the client each went into."""
    rows = await conn.fetch(
        "SELECT merged_id, into_id FROM client_merges WHERE merged_id = ANY($1::bigint[])",
        list(client_ids),
    )
    return {row["merged_id"]: row["into_id"] for row in rows}


async def merged_from_by_client(
    conn: asyncpg.Connection, client_ids: list[int]
) -> dict[int, list[int]]:
    """The ids merged into each of these clients, oldest merge first."""
    rows = await conn.fetch(
        """SELECT into_id, merged_id FROM client_merges WHERE into_id = ANY($1::bigint[])
            ORDER BY merged_at, merged_id""",
        client_ids,
    )
    found: dict[int, list[int]] = {cid: [] for cid in client_ids}
    for row in rows:
        found[row["into_id"]].append(row["merged_id"])
    return found
