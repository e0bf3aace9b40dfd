"""SPEC 7.1 (merge) and 7.2 (delete), and the personal-data export, at the domain layer."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from domain.auth import sessions
from domain.auth.permissions import ROLE_PERMISSIONS, StaffPermission, StaffRole
from domain.billing import orders, payments
from domain.billing.models import ItemKind
from domain.cards import services as cards
from domain.cards.crypto import CardKeyring, SealedNumber
from domain.clients import deletion, export, merge
from domain.clients import services as client_services
from domain.clients.merge import MergeKeep
from domain.clients.models import Client, ClientStatus
from domain.clients.related import CLIENT_TABLES, CONTACT_REFERENCES, HANDLED_APART
from domain.contacts import services as contact_services
from domain.credit import services as credit
from domain.errors import DomainError, ErrorCode
from domain.tickets import services as tickets
from tests.conftest import CARD_KEY, add_client, pay_by_transfer

KEYRING = CardKeyring.parse(CARD_KEY)
CARD_NUMBER = "4111111111111111"


async def new_client(conn: asyncpg.Connection, tag: str, **values: Any) -> Client:
    return await add_client(
        conn,
        first_name=tag.title(),
        email=f"{tag}@example.com",
        send_welcome_email=True,  # an email log row
        **values,
    )


async def populate(conn: asyncpg.Connection, client: Client, tag: str) -> str:
    """One record of every kind a client owns; returns a session token of its contact."""
    order = await orders.place_order(
        conn,
        client.id,
        items=[
            {"kind": ItemKind.SERVICE, "name": f"{tag} hosting", "amount": "10.00"},
            {"kind": ItemKind.ADDON, "name": f"{tag} backups", "amount": "2.00"},
            {"kind": ItemKind.DOMAIN, "name": f"{tag}.example", "amount": "12.00"},
        ],
        payment_method=None,
        staff_id=None,
    )
    assert order.invoice_id is not None
    await pay_by_transfer(conn, order.invoice_id, "5.00")
    await credit.add_credit(
        conn,
        client.id,
        amount="7.50",
        description=f"{tag} goodwill",
        staff_id=None,
        login_id=client.owner_login_id,
    )
    contact = await contact_services.add_contact(
        conn,
        client.id,
        {"first_name": "Con", "last_name": tag.title(), "email": f"con.{tag}@example.com"},
        staff_id=None,
        may_grant_access=True,
    )
    login_id = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ($1) RETURNING id", f"con.{tag}@example.com"
    )
    await conn.execute(
        "UPDATE contacts SET login_id = $2, permissions = '{INVOICES}' WHERE id = $1",
        contact.id,
        login_id,
    )
    await conn.execute("UPDATE clients SET notes = $2 WHERE id = $1", client.id, f"{tag} notes")
    await conn.execute(
        """INSERT INTO quotes (client_id, valid_until, currency, subtotal)
           VALUES ($1, current_date, 'USD', 0)""",
        client.id,
    )
    await tickets.open_ticket(
        conn,
        await tickets.writer_of_viewer(conn, client.id, contact.id),
        f"{tag} help",
        "Down.",
        client_area_url="http://127.0.0.1:8000",
    )
    await conn.execute(
        """INSERT INTO client_files (client_id, title, filename, stored_name, content_type, size)
           VALUES ($1, $2, 'terms.pdf', md5($2), 'application/pdf', 5)""",
        client.id,
        f"{tag} terms",
    )
    return await sessions.start_session(conn, login_id, ttl=timedelta(hours=1))


async def counts(conn: asyncpg.Connection, client_id: int) -> dict[str, int]:
    found = {
        related.table: await conn.fetchval(
            f"SELECT count(*) FROM {related.table} WHERE {related.column} = $1", client_id
        )
        for related in CLIENT_TABLES
    }
    found["cards"] = await conn.fetchval(
        "SELECT count(*) FROM cards WHERE client_id = $1", client_id
    )
    return found


async def balance_and_ledger(conn: asyncpg.Connection, client_id: int) -> tuple[Decimal, Decimal]:
    row = await conn.fetchrow(
        """SELECT credit_balance, (SELECT coalesce(sum(amount), 0) FROM credit_log
                                    WHERE client_id = c.id) AS ledger
             FROM clients c WHERE id = $1""",
        client_id,
    )
    return row["credit_balance"], row["ledger"]


async def save_card(conn: asyncpg.Connection, client_id: int, number: str = CARD_NUMBER) -> None:
    await cards.save_card(conn, KEYRING, client_id, number=number, expiry="12/39", staff_id=None)


async def card_number(conn: asyncpg.Connection, client_id: int) -> str:
    row = await conn.fetchrow("SELECT * FROM cards WHERE client_id = $1", client_id)
    return KEYRING.open(
        SealedNumber(row["key_version"], row["nonce"], row["ciphertext"]), client_id
    )


@pytest.mark.parametrize("keep", list(MergeKeep))
async def test_7_1_merge_moves_every_record_to_the_kept_client(
    conn: asyncpg.Connection, keep: MergeKeep
) -> None:
    first = await new_client(conn, "first")
    second = await new_client(conn, "second")
    tokens = {first.id: await populate(conn, first, "first")}
    tokens[second.id] = await populate(conn, second, "second")
    # The client merged away has the only card: it moves, re-encrypted for its new owner.
    kept, other = (first, second) if keep is MergeKeep.FIRST else (second, first)
    await save_card(conn, other.id)
    earlier = await new_client(conn, "earlier")
    await merge.merge_clients(
        conn, other.id, earlier.id, MergeKeep.FIRST, keyring=None, staff_id=None
    )
    before = {cid: await counts(conn, cid) for cid in (first.id, second.id)}
    assert all(
        before[kept.id][t] > 0 for t in before[kept.id] if t not in ("cards", "client_merges")
    )
    balances = (await balance_and_ledger(conn, kept.id))[0] + (
        await balance_and_ledger(conn, other.id)
    )[0]

    merged = await merge.merge_clients(
        conn, first.id, second.id, keep, keyring=KEYRING, staff_id=None
    )

    assert merged.id == kept.id
    after = await counts(conn, kept.id)
    gone = await counts(conn, other.id)
    # Every row moved; the kept client also has the merge's audit entry and redirect.
    expected = {t: before[first.id][t] + before[second.id][t] for t in after}
    expected["audit_log"] += 1
    expected["client_merges"] += 1
    assert after == expected
    assert set(gone.values()) == {0}
    assert await conn.fetchval("SELECT count(*) FROM clients WHERE id = $1", other.id) == 0
    assert await balance_and_ledger(conn, kept.id) == (balances, balances)
    assert await card_number(conn, kept.id) == CARD_NUMBER
    # The profile kept; the other's notes appended, marked with their origin.
    assert merged.email == kept.email and merged.first_name == kept.first_name
    assert merged.notes is not None
    assert merged.notes.startswith(f"{kept.first_name.lower()} notes")
    assert f"client #{other.id}" in merged.notes and merged.notes.endswith(
        f"{other.first_name.lower()} notes"
    )
    # The removed client's login is gone; both contacts' sessions open the kept account.
    assert (
        await conn.fetchval("SELECT count(*) FROM logins WHERE id = $1", other.owner_login_id) == 0
    )
    for token in tokens.values():
        viewer = await sessions.viewer_for_token(conn, token)
        assert viewer is not None and viewer.client_id == kept.id
    # Redirects: the removed id and the one merged into it earlier lead to the kept client.
    assert await merge.merged_into(conn, [other.id, earlier.id, kept.id]) == {
        other.id: kept.id,
        earlier.id: kept.id,
    }
    assert (await merge.merged_from_by_client(conn, [kept.id]))[kept.id] == sorted(
        [other.id, earlier.id], key=[earlier.id, other.id].index
    )
    entry = await conn.fetchrow(
        "SELECT * FROM audit_log WHERE client_id = $1 AND action = 'client.merged'"
        " ORDER BY id DESC LIMIT 1",
        kept.id,
    )
    assert entry["changes"]["mergedClientId"] == other.id
    assert entry["changes"]["cardMoved"] is True


async def test_7_1_merge_keeps_the_kept_clients_card(conn: asyncpg.Connection) -> None:
    first = await new_client(conn, "first")
    second = await new_client(conn, "second")
    await save_card(conn, first.id)
    await save_card(conn, second.id, "5555555555554444")
    await merge.merge_clients(
        conn, first.id, second.id, MergeKeep.FIRST, keyring=None, staff_id=None
    )
    assert await card_number(conn, first.id) == CARD_NUMBER
    assert await conn.fetchval("SELECT count(*) FROM cards") == 1


async def test_7_1_merge_refusals_change_nothing(conn: asyncpg.Connection) -> None:
    first = await new_client(conn, "first")
    second = await new_client(conn, "second", currency="EUR")
    await credit.add_credit(
        conn, first.id, amount="1", description="x", staff_id=None, login_id=first.owner_login_id
    )

    async def refused(*args: Any, **kwargs: Any) -> list[tuple[str | None, ErrorCode]]:
        with pytest.raises(DomainError) as caught:
            await merge.merge_clients(conn, *args, keyring=KEYRING, staff_id=None, **kwargs)
        return [(e.field, e.code) for e in caught.value.errors]

    assert await refused(first.id, first.id, MergeKeep.FIRST) == [("second_id", ErrorCode.INVALID)]
    assert await refused(998, 999, MergeKeep.FIRST) == [
        ("first_id", ErrorCode.NOT_FOUND),
        ("second_id", ErrorCode.NOT_FOUND),
    ]
    assert await refused(first.id, 999, MergeKeep.SECOND) == [("second_id", ErrorCode.NOT_FOUND)]
    # Only the first has billing history: allowed, below. Both: refused.
    await credit.add_credit(
        conn, second.id, amount="1", description="x", staff_id=None, login_id=second.owner_login_id
    )
    assert await refused(first.id, second.id, MergeKeep.FIRST) == [
        ("second_id", ErrorCode.CONFLICT)
    ]
    # A card that must move but cannot be re-encrypted refuses too.
    await conn.execute("DELETE FROM credit_log WHERE client_id = $1", second.id)
    await save_card(conn, second.id)
    with pytest.raises(DomainError) as caught:
        await merge.merge_clients(
            conn, first.id, second.id, MergeKeep.FIRST, keyring=None, staff_id=None
        )
    assert caught.value.errors[0].code is ErrorCode.NOT_CONFIGURED
    assert await conn.fetchval("SELECT count(*) FROM clients") == 2
    assert await conn.fetchval("SELECT count(*) FROM cards WHERE client_id = $1", second.id) == 1


async def test_7_1_a_merge_whose_credit_balance_cannot_be_stored_is_refused(
    conn: asyncpg.Connection,
) -> None:
    first = await new_client(conn, "first")
    second = await new_client(conn, "second")
    for client, amount in ((first, "999999999999.00"), (second, "1.00")):
        await credit.add_credit(
            conn,
            client.id,
            amount=amount,
            description="x",
            staff_id=None,
            login_id=client.owner_login_id,
        )

    with pytest.raises(DomainError) as caught:
        await merge.merge_clients(
            conn, first.id, second.id, MergeKeep.FIRST, keyring=KEYRING, staff_id=None
        )

    assert [(e.field, e.code) for e in caught.value.errors] == [("second_id", ErrorCode.INVALID)]
    assert await conn.fetchval("SELECT count(*) FROM clients") == 2
    assert await balance_and_ledger(conn, first.id) == (Decimal("999999999999.00"),) * 2
    assert await balance_and_ledger(conn, second.id) == (Decimal("1.00"),) * 2


async def test_7_1_a_closed_client_merges_and_the_kept_one_takes_the_billing_currency(
    conn: asyncpg.Connection,
) -> None:
    kept = await new_client(conn, "kept")
    closed = await new_client(conn, "closed", currency="EUR")
    await client_services.set_client_status(conn, closed.id, ClientStatus.CLOSED, staff_id=None)
    await credit.add_credit(
        conn, closed.id, amount="3", description="x", staff_id=None, login_id=closed.owner_login_id
    )
    merged = await merge.merge_clients(
        conn, closed.id, kept.id, MergeKeep.SECOND, keyring=KEYRING, staff_id=None
    )
    assert merged.currency == "EUR" and merged.status is ClientStatus.ACTIVE
    assert merged.credit_balance == Decimal("3.00")


async def test_7_1_credit_racing_a_merge_is_never_lost(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        kept = await new_client(conn, "kept")
        other = await new_client(conn, "other")
    some_credited = asyncio.Event()
    credited: list[bool] = []

    async def add_credit() -> None:
        async with pool.acquire() as conn:
            try:
                await credit.add_credit(
                    conn,
                    other.id,
                    amount="1.00",
                    description="raced",
                    staff_id=None,
                    login_id=other.owner_login_id,
                )
            except DomainError as error:
                assert [e.code for e in error.errors] == [ErrorCode.NOT_FOUND]
                credited.append(False)
                return
        credited.append(True)
        if sum(credited) == 5:
            some_credited.set()

    async def merge_them() -> None:
        # Its connection taken first, so that it starts while credits are still queued.
        async with pool.acquire() as conn:
            await some_credited.wait()
            await merge.merge_clients(
                conn, kept.id, other.id, MergeKeep.FIRST, keyring=KEYRING, staff_id=None
            )

    merging = asyncio.create_task(merge_them())
    await asyncio.sleep(0)
    await asyncio.gather(*(add_credit() for _ in range(50)), merging)
    async with pool.acquire() as conn:
        balance, ledger = await balance_and_ledger(conn, kept.id)
        assert await conn.fetchval("SELECT count(*) FROM clients") == 1
    assert len(credited) == 50
    assert 0 < sum(credited) < 50, "the race did not happen"
    assert balance == ledger == Decimal(sum(credited))


async def test_7_1_two_merges_racing_on_one_client_neither_deadlock_nor_lose(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        a, b, c = [await new_client(conn, tag) for tag in ("a", "b", "c")]
        for client in (a, b, c):
            await credit.add_credit(
                conn,
                client.id,
                amount="1",
                description="x",
                staff_id=None,
                login_id=client.owner_login_id,
            )

    async def merge_into(kept: Client, other: Client) -> bool:
        async with pool.acquire() as conn:
            try:
                await merge.merge_clients(
                    conn, other.id, kept.id, MergeKeep.SECOND, keyring=KEYRING, staff_id=None
                )
            except DomainError:
                return False
            return True

    # c into b and b into a, opposite id orders, at once: both succeed, one after the other,
    # or the second finds its client gone; no deadlock, no credit lost.
    results = await asyncio.gather(merge_into(b, c), merge_into(a, b))
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, credit_balance FROM clients")
        assert sum(row["credit_balance"] for row in rows) == Decimal("3.00")
        assert len(rows) == 3 - sum(results)


async def test_7_2_delete_removes_everything_but_transactions_and_audit(
    conn: asyncpg.Connection,
) -> None:
    doomed = await new_client(conn, "doomed", company_name="Doomed Ltd")
    bystander = await new_client(conn, "bystander")
    token = await populate(conn, doomed, "doomed")
    await populate(conn, bystander, "bystander")
    await save_card(conn, doomed.id)
    earlier = await new_client(conn, "earlier")
    await merge.merge_clients(
        conn, doomed.id, earlier.id, MergeKeep.FIRST, keyring=None, staff_id=None
    )
    before = await counts(conn, doomed.id)
    untouched = await counts(conn, bystander.id)
    assert all(before.values())
    logins = await conn.fetchval("SELECT count(*) FROM logins")

    await deletion.delete_client(conn, doomed.id, staff_id=None)

    after = await counts(conn, doomed.id)
    assert after == {
        t: (before[t] + (t == "audit_log") if t in ("transactions", "audit_log") else 0)
        for t in before
    }
    assert await counts(conn, bystander.id) == untouched
    # The owner's and the contact's logins went, and with them the session.
    assert await conn.fetchval("SELECT count(*) FROM logins") == logins - 2
    assert await sessions.viewer_for_token(conn, token) is None
    assert await merge.merged_into(conn, [earlier.id]) == {}
    rows = await payments.transactions_by_client(conn, [doomed.id])
    assert [(t.client_name, t.client_company_name) for t in rows[doomed.id]] == [
        ("Doomed Bloggs", "Doomed Ltd")
    ]
    with pytest.raises(DomainError) as caught:
        await deletion.delete_client(conn, doomed.id, staff_id=None)
    assert caught.value.errors[0].code is ErrorCode.NOT_FOUND


async def test_every_table_naming_a_client_or_contact_is_listed(conn: asyncpg.Connection) -> None:
    """Merge, delete and export read CLIENT_TABLES: a new table holding a client's id (by
    foreign key or by a client_id column) or a contact's id must be added there."""
    naming_clients = {
        (row["table"], row["column"])
        for row in await conn.fetch(
            """SELECT c.conrelid::regclass::text AS table, a.attname AS column
                 FROM pg_constraint c
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
                WHERE c.contype = 'f' AND c.confrelid = 'clients'::regclass
                  AND c.conrelid <> 'clients'::regclass
               UNION
               SELECT table_name, column_name FROM information_schema.columns
                WHERE table_schema = 'public' AND column_name = 'client_id'"""
        )
    }
    listed = {(t.table, t.column) for t in CLIENT_TABLES} | HANDLED_APART
    assert naming_clients - listed == set()
    naming_contacts = {
        (row["table"], row["column"])
        for row in await conn.fetch(
            """SELECT c.conrelid::regclass::text AS table, a.attname AS column
                 FROM pg_constraint c
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
                WHERE c.contype = 'f' AND c.confrelid = 'contacts'::regclass"""
        )
    }
    assert naming_contacts == CONTACT_REFERENCES


async def test_export_holds_every_kind_of_record_and_no_secret(conn: asyncpg.Connection) -> None:
    client = await new_client(conn, "subject")
    token = await populate(conn, client, "subject")
    await save_card(conn, client.id)
    await conn.execute(
        """UPDATE logins SET password_hash = 'argon2-hash-of-it', totp_key_version = 1,
                             totp_nonce = '\\x000000000000000000000000',
                             totp_ciphertext = 'TOTPSECRETBASE32'::bytea
            WHERE id = $1""",
        client.owner_login_id,
    )
    own_token = await sessions.start_session(conn, client.owner_login_id, ttl=timedelta(hours=1))
    card = await conn.fetchrow(
        "SELECT nonce, ciphertext FROM cards WHERE client_id = $1", client.id
    )
    # An email whose body and context carry a reset link with its token.
    await conn.execute(
        """INSERT INTO emails (client_id, template, category, to_address, context, subject, body)
           VALUES ($1, 'password_reset', 'ACCOUNT', 'subject@example.com', $2, 'Reset', $3)""",
        client.id,
        {"token": "RESET-TOKEN-123"},
        "https://clients.example.com/reset?token=RESET-TOKEN-123",
    )

    document, _ = await export.export_client_data(conn, client.id, staff_id=None, for_staff=True)

    assert document["profile"]["email"] == "subject@example.com"
    assert document["profile"]["notes"] == "subject notes"
    for section in (
        "contacts",
        "services",
        "addons",
        "domains",
        "orders",
        "invoices",
        "transactions",
        "creditLog",
        "tickets",
        "files",
        "emails",
        "auditEntries",
    ):
        assert document[section], section
    assert document["invoices"][0]["items"]
    assert document["card"]["last_four"] == CARD_NUMBER[-4:]
    assert document["contacts"][0]["has_login"] is True
    text = json.dumps(document)
    for secret in (
        "argon2-hash-of-it",
        "TOTPSECRETBASE32",
        b"TOTPSECRETBASE32".hex(),
        CARD_NUMBER,
        card["ciphertext"].hex(),
        card["nonce"].hex(),
        token,
        own_token,
        "RESET-TOKEN-123",
        "password_hash",
        "totp_",
        "ciphertext",
        "token_hash",
    ):
        assert secret not in text, secret
    assert (
        await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'client.data_exported'")
        == 1
    )


def test_exporting_needs_no_more_than_reading_what_the_export_holds() -> None:
    """The staff export needs VIEW_AUDIT_LOG; every role holding it may also read the
    clients and their email logs that the document contains."""
    for role, granted in ROLE_PERMISSIONS.items():
        if StaffPermission.VIEW_AUDIT_LOG in granted:
            assert {StaffPermission.VIEW_CLIENTS, StaffPermission.VIEW_EMAILS} <= granted, role
    assert [r for r, p in ROLE_PERMISSIONS.items() if StaffPermission.DELETE_CLIENTS in p] == [
        StaffRole.ADMIN
    ]
