"""SPEC 4 at the domain layer: the stored card, its encryption, reveal and rotation."""

from __future__ import annotations

from datetime import date

import asyncpg
import pytest

from domain.billing.gateway_protocol import CardOnFile
from domain.cards import services
from domain.cards.crypto import CardKeyError, CardKeyring, SealedNumber, generate_key
from domain.cards.numbers import card_type, luhn_valid
from domain.errors import DomainError, ErrorCode
from tests.conftest import CARD_KEY, add_client
from tests.domain.test_clients import field_errors

VISA = "4111 1111 1111 1111"
VISA_DIGITS = "4111111111111111"
TODAY = date(2026, 11, 25)
SECRET = "the-cc-encryption-hash"
KEYRING = CardKeyring.parse(CARD_KEY)


async def save(
    conn: asyncpg.Connection, client_id: int, **fields: str | None
) -> services.StoredCard:
    values = {"number": VISA, "expiry": "12/28", **fields}
    return await services.save_card(
        conn,
        KEYRING,
        client_id,
        staff_id=None,
        today=TODAY,
        **values,  # type: ignore[arg-type]
    )


async def database_text(conn: asyncpg.Connection) -> str:
    """Every row of every table of ours as text: what a database dump would show."""
    tables = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    dumps = [
        await conn.fetchval(f"SELECT coalesce(string_agg(t::text, '\n'), '') FROM {r[0]} t")
        for r in tables
    ]
    return "\n".join(dumps)


@pytest.mark.parametrize(
    ("number", "scheme"),
    [
        ("4111111111111111", "Visa"),
        ("5555555555554444", "Mastercard"),
        ("2221000000000009", "Mastercard"),
        ("378282246310005", "American Express"),
        ("6011111111111117", "Discover"),
        ("3530111333300000", "JCB"),
        ("30569309025904", "Diners Club"),
    ],
)
def test_4_1_card_type_is_derived_from_the_number(number: str, scheme: str) -> None:
    assert luhn_valid(number)
    assert card_type(number) == scheme


async def test_4_1_staff_see_type_last_four_expiry_issue_number_and_start_date(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    card = await save(conn, client.id, issue_number="2", start_date="01/25")
    assert (card.card_type, card.last_four, card.expiry) == ("Visa", "1111", "12/28")
    assert (card.issue_number, card.start_date) == ("2", "01/25")
    assert (await services.cards_by_client(conn, [client.id]))[client.id] == card


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"number": "4111 1111 1111 1112"}, {("number", ErrorCode.INVALID)}),
        ({"number": ""}, {("number", ErrorCode.REQUIRED)}),
        ({"number": "4111-abcd"}, {("number", ErrorCode.INVALID)}),
        ({"number": "٤١١١١١١١١١١١١١١١"}, {("number", ErrorCode.INVALID)}),
        ({"expiry": "10/26"}, {("expiry", ErrorCode.INVALID)}),
        ({"expiry": "13/28"}, {("expiry", ErrorCode.INVALID)}),
        ({"expiry": "2028-12"}, {("expiry", ErrorCode.INVALID)}),
        ({"start_date": "01/27"}, {("start_date", ErrorCode.INVALID)}),
        ({"issue_number": "12345"}, {("issue_number", ErrorCode.INVALID)}),
        (
            {"number": "1234", "expiry": "00/00"},
            {("number", ErrorCode.INVALID), ("expiry", ErrorCode.INVALID)},
        ),
    ],
)
async def test_4_2_invalid_cards_are_refused_per_field_and_nothing_is_stored(
    conn: asyncpg.Connection, fields: dict[str, str], expected: set[tuple[str, ErrorCode]]
) -> None:
    client = await add_client(conn)
    with pytest.raises(DomainError) as refused:
        await save(conn, client.id, **fields)
    assert field_errors(refused.value) == expected
    assert await conn.fetchval("SELECT count(*) FROM cards") == 0


async def test_4_2_a_card_expiring_this_month_is_still_valid(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    assert (await save(conn, client.id, expiry="11/26")).expiry == "11/26"


async def test_4_2_saving_again_replaces_the_card(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    await save(conn, client.id, issue_number="3")
    card = await save(conn, client.id, number="5555555555554444", expiry="01/30")
    assert (card.card_type, card.last_four, card.issue_number) == ("Mastercard", "4444", None)
    assert await conn.fetchval("SELECT count(*) FROM cards") == 1


async def test_4_5_a_card_stored_here_replaces_one_a_gateway_kept(
    conn: asyncpg.Connection,
) -> None:
    """After a card kept by a gateway, a card stored here is the one charged: the kept one's
    ids go with it."""
    client = await add_client(conn)
    await conn.execute(
        """INSERT INTO cards (client_id, card_type, last_four, expiry, gateway, gateway_customer,
                              gateway_payment_method)
           VALUES ($1, 'Visa', '4242', '12/28', 'stripe', 'cus_1', 'pm_1')""",
        client.id,
    )

    await save(conn, client.id)

    assert await services.card_on_file(conn, KEYRING, client.id) == CardOnFile(number=VISA_DIGITS)
    kept = await conn.fetchrow(
        "SELECT gateway, gateway_customer, gateway_payment_method FROM cards WHERE client_id = $1",
        client.id,
    )
    assert tuple(kept) == (None, None, None)


async def test_4_2_without_card_keys_cards_are_refused(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    with pytest.raises(DomainError) as refused:
        await services.save_card(
            conn, None, client.id, number=VISA, expiry="12/28", staff_id=None, today=TODAY
        )
    assert refused.value.errors[0].code is ErrorCode.NOT_CONFIGURED


async def test_4_3_the_full_number_is_stored_only_encrypted(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    await save(conn, client.id)
    dump = await database_text(conn)
    assert VISA_DIGITS not in dump and VISA_DIGITS[:12] not in dump
    row = await conn.fetchrow("SELECT key_version, nonce, ciphertext FROM cards")
    assert row["key_version"] == 1 and len(row["nonce"]) == 12
    assert VISA_DIGITS.encode() not in row["ciphertext"]


async def test_4_3_the_right_secret_reveals_the_number_and_is_audited(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    await save(conn, client.id)
    number = await services.reveal_card_number(
        conn,
        KEYRING,
        client.id,
        presented_secret=SECRET,
        installation_secrets=[SECRET],
        staff_id=None,
    )
    assert number == VISA_DIGITS
    audit = await conn.fetch(
        "SELECT action, changes::text FROM audit_log WHERE action LIKE 'card.%' ORDER BY id"
    )
    assert [r["action"] for r in audit] == ["card.save", "card.reveal"]
    assert all(VISA_DIGITS not in r["changes"] for r in audit)


@pytest.mark.parametrize("presented", ["wrong", "", SECRET + " ", SECRET.upper()])
async def test_4_3_a_wrong_secret_reveals_nothing_and_is_audited_too(
    conn: asyncpg.Connection, presented: str
) -> None:
    client = await add_client(conn)
    await save(conn, client.id)
    number = await services.reveal_card_number(
        conn,
        KEYRING,
        client.id,
        presented_secret=presented,
        installation_secrets=[SECRET],
        staff_id=None,
    )
    assert number is None
    assert await conn.fetchval("SELECT action FROM audit_log ORDER BY id DESC LIMIT 1") == (
        "card.reveal_refused"
    )


async def test_4_3_an_installation_without_a_secret_reveals_nothing(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    await save(conn, client.id)
    revealed = await services.reveal_card_number(
        conn, KEYRING, client.id, presented_secret="", installation_secrets=[], staff_id=None
    )
    assert revealed is None


async def test_4_3_a_ciphertext_moved_to_another_client_does_not_decrypt(
    conn: asyncpg.Connection,
) -> None:
    joe = await add_client(conn)
    ann = await add_client(conn, email="ann@example.com")
    await save(conn, joe.id)
    # Someone with database access copies Joe's encrypted card onto Ann's account.
    await conn.execute(
        """INSERT INTO cards (client_id, card_type, last_four, expiry, key_version, nonce,
                              ciphertext)
           SELECT $2, card_type, last_four, expiry, key_version, nonce, ciphertext
             FROM cards WHERE client_id = $1""",
        joe.id,
        ann.id,
    )
    with pytest.raises(CardKeyError):
        await services.reveal_card_number(
            conn,
            KEYRING,
            ann.id,
            presented_secret=SECRET,
            installation_secrets=[SECRET],
            staff_id=None,
        )


async def test_4_4_clearing_the_card_leaves_nothing_of_the_number(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    await save(conn, client.id)
    assert await services.clear_card(conn, client.id, staff_id=None) is True
    assert await conn.fetchval("SELECT count(*) FROM cards") == 0
    # The audit keeps the type and last four digits; nothing else of the number is left.
    assert VISA_DIGITS[:12] not in await database_text(conn)
    assert await services.clear_card(conn, client.id, staff_id=None) is False


async def test_4_4_clearing_an_unknown_clients_card_is_not_found(
    conn: asyncpg.Connection,
) -> None:
    with pytest.raises(DomainError) as refused:
        await services.clear_card(conn, 999, staff_id=None)
    assert field_errors(refused.value) == {("client_id", ErrorCode.NOT_FOUND)}


async def test_rotation_re_encrypts_every_card_under_the_newest_key(
    conn: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    numbers = ["4111111111111111", "5555555555554444", "378282246310005"]
    clients = [await add_client(conn, email=f"c{i}@example.com") for i in range(len(numbers))]
    for client, number in zip(clients, numbers, strict=True):
        await save(conn, client.id, number=number)
    rotated_keyring = CardKeyring.parse(f"{generate_key(2)},{CARD_KEY}")

    batches: list[int] = []
    rotated = await services.rotate_card_keys(
        pool, rotated_keyring, batch_size=2, on_batch=batches.append
    )

    assert (rotated, batches) == (3, [2, 1])
    assert await services.cards_to_rotate(conn, rotated_keyring) == 0
    only_new_key = CardKeyring({2: rotated_keyring.keys[2]})
    for client, number in zip(clients, numbers, strict=True):
        row = await conn.fetchrow(
            "SELECT key_version, nonce, ciphertext FROM cards WHERE client_id = $1", client.id
        )
        assert only_new_key.open(SealedNumber(*row), client.id) == number
    assert await services.rotate_card_keys(pool, rotated_keyring) == 0


@pytest.mark.parametrize(
    "setting", ["", "1", "x:" + "k" * 43, "0:" + "k" * 43, "1:short", f"{CARD_KEY},{CARD_KEY}"]
)
def test_malformed_card_keys_are_refused(setting: str) -> None:
    with pytest.raises(CardKeyError):
        CardKeyring.parse(setting)
