"""SPEC 3.1–3.3 and 3.6 at the domain layer: money parsing, the credit ledger, idempotency."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from domain.auth.permissions import StaffRole
from domain.auth.staff import Staff, create_staff
from domain.clients.models import Client
from domain.credit import ledger, services
from domain.errors import DomainError, ErrorCode
from domain.idempotency import delete_expired_keys, idempotent
from domain.money import MAX_AMOUNT, format_amount, parse_amount
from tests.conftest import add_client


@pytest.fixture
async def staff(conn: asyncpg.Connection) -> Staff:
    return await create_staff(
        conn,
        email="billing@staff.example.com",
        password="staff-password-1",
        first_name="Bea",
        last_name="Biller",
        role=StaffRole.BILLING,
    )


@pytest.fixture
async def client(conn: asyncpg.Connection) -> Client:
    return await add_client(conn)


async def add(
    conn: asyncpg.Connection, client: Client, staff: Staff, amount: Any, **kw: Any
) -> Any:
    return await services.add_credit(
        conn,
        client.id,
        amount=amount,
        description=kw.pop("description", "Goodwill"),
        staff_id=staff.id,
        login_id=staff.login_id,
        **kw,
    )


async def remove(conn: asyncpg.Connection, client: Client, staff: Staff, amount: Any) -> Any:
    return await services.remove_credit(
        conn,
        client.id,
        amount=amount,
        reason="Refunded",
        staff_id=staff.id,
        login_id=staff.login_id,
    )


async def balance_and_sum(conn: asyncpg.Connection, client_id: int) -> tuple[Decimal, Decimal]:
    row = await conn.fetchrow(
        """SELECT c.credit_balance,
                  (SELECT coalesce(sum(amount), 0) FROM credit_log WHERE client_id = c.id) AS total
           FROM clients c WHERE c.id = $1""",
        client_id,
    )
    return row["credit_balance"], row["total"]


def errors_of(error: DomainError) -> set[tuple[str | None, ErrorCode]]:
    return {(e.field, e.code) for e in error.errors}


# --- money ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("1.5", Decimal("1.50")),
        ("12.340", Decimal("12.34")),
        (7, Decimal("7.00")),
        (Decimal("1.500"), Decimal("1.50")),  # trailing zeros are not precision
        ("999999999999.99", Decimal("999999999999.99")),
    ],
)
def test_3_6_amounts_are_exact_decimals_with_two_places(given: Any, expected: Decimal) -> None:
    parsed = parse_amount(given, "amount")
    assert parsed == expected
    assert parsed.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "given",
    [
        "1.005",  # over-precise
        Decimal("0.001"),
        "0",
        0,
        "-5",
        "1000000000000.00",  # absurd: more than NUMERIC(14, 2) holds
        "1e40",
        "1e3",  # what Decimal() reads besides plain ASCII decimals: never an amount
        "1_000",
        "\u0661\u0662",
        " 12.34 ",
        "+12",
        "+-1",
        "12.",
        "abc",
        "",
        "NaN",
        "Infinity",
        Decimal("NaN"),
        1.5,  # a float is never exact, even when it looks it
        True,
    ],
)
def test_3_6_over_precise_zero_negative_absurd_and_non_numbers_are_refused(given: Any) -> None:
    with pytest.raises(DomainError) as refused:
        parse_amount(given, "amount")
    assert errors_of(refused.value) == {("amount", ErrorCode.INVALID)}


def test_3_6_zero_is_accepted_only_when_allowed() -> None:
    assert parse_amount("0", "fees", allow_zero=True) == Decimal("0.00")
    with pytest.raises(DomainError):
        parse_amount("-0.01", "fees", allow_zero=True)


def test_3_6_amounts_are_formatted_with_two_places() -> None:
    assert format_amount(Decimal("10")) == "10.00"
    assert format_amount(Decimal("-2.5")) == "-2.50"
    assert format_amount(Decimal("1E+3")) == "1000.00"


# --- the ledger -----------------------------------------------------------------------------


async def test_3_1_adding_credit_raises_the_balance_and_logs_it(
    conn: asyncpg.Connection, client: Client, staff: Staff
) -> None:
    change = await add(conn, client, staff, "25.50", description="  Goodwill gesture ")
    assert change.client.credit_balance == Decimal("25.50")
    entry = change.entry
    assert (entry.amount, entry.description, entry.staff_id) == (
        Decimal("25.50"),
        "Goodwill gesture",
        staff.id,
    )
    assert entry.staff_name == "Bea Biller"
    assert entry.date is not None
    assert await ledger.entries_by_client(conn, [client.id]) == {client.id: [entry]}
    audited = await conn.fetchrow(
        "SELECT staff_id, action, changes FROM audit_log WHERE action LIKE 'credit.%'"
    )
    assert (audited["staff_id"], audited["action"]) == (staff.id, "credit.added")
    assert audited["changes"]["amount"] == "25.50"


@pytest.mark.parametrize("amount", ["0", "-5", "1.005", "1000000000000", "ten"])
async def test_3_1_credit_needs_a_positive_exact_amount_and_a_description(
    conn: asyncpg.Connection, client: Client, staff: Staff, amount: str
) -> None:
    with pytest.raises(DomainError) as refused:
        await add(conn, client, staff, amount, description=" ")
    assert errors_of(refused.value) == {
        ("amount", ErrorCode.INVALID),
        ("description", ErrorCode.REQUIRED),
    }
    assert await balance_and_sum(conn, client.id) == (Decimal(0), Decimal(0))
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'credit.%'") == 0


async def test_3_1_credit_for_an_unknown_client_is_refused(
    conn: asyncpg.Connection, staff: Staff
) -> None:
    with pytest.raises(DomainError) as refused:
        await services.add_credit(
            conn, 999, amount="1", description="x", staff_id=staff.id, login_id=staff.login_id
        )
    assert errors_of(refused.value) == {("clientId", ErrorCode.NOT_FOUND)}


async def test_3_2_removing_credit_logs_a_negative_entry(
    conn: asyncpg.Connection, client: Client, staff: Staff
) -> None:
    await add(conn, client, staff, "30")
    change = await remove(conn, client, staff, "12.25")
    assert change.client.credit_balance == Decimal("17.75")
    assert (change.entry.amount, change.entry.description) == (Decimal("-12.25"), "Refunded")
    actions = await conn.fetch(
        "SELECT action FROM audit_log WHERE action LIKE 'credit.%' ORDER BY id"
    )
    assert [a["action"] for a in actions] == ["credit.added", "credit.removed"]


async def test_3_2_removing_credit_never_takes_the_balance_below_zero(
    conn: asyncpg.Connection, client: Client, staff: Staff
) -> None:
    await add(conn, client, staff, "10")
    with pytest.raises(DomainError) as refused:
        await remove(conn, client, staff, "10.01")
    assert errors_of(refused.value) == {("amount", ErrorCode.INSUFFICIENT_CREDIT)}
    assert await balance_and_sum(conn, client.id) == (Decimal("10.00"), Decimal("10.00"))
    change = await remove(conn, client, staff, "10")
    assert change.client.credit_balance == Decimal("0.00")


async def test_3_6_credit_up_to_the_largest_balance_is_taken_and_past_it_refused(
    conn: asyncpg.Connection, client: Client, staff: Staff
) -> None:
    await add(conn, client, staff, "999999999999.00")
    await add(conn, client, staff, "0.99")
    with pytest.raises(DomainError) as refused:
        await add(conn, client, staff, "0.01")
    assert errors_of(refused.value) == {("amount", ErrorCode.INVALID)}
    assert await balance_and_sum(conn, client.id) == (MAX_AMOUNT, MAX_AMOUNT)
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'credit.%'") == 2


async def test_3_3_deleting_a_credit_entry_deducts_it(
    conn: asyncpg.Connection, client: Client, staff: Staff
) -> None:
    first = await add(conn, client, staff, "10")
    await add(conn, client, staff, "5")
    change = await services.delete_credit_entry(conn, first.entry.id, staff_id=staff.id)
    assert change.client.credit_balance == Decimal("5.00")
    assert change.entry == first.entry
    assert await ledger.get_entry(conn, first.entry.id) is None
    assert await balance_and_sum(conn, client.id) == (Decimal("5.00"), Decimal("5.00"))
    audited = await conn.fetchrow("SELECT action, changes FROM audit_log ORDER BY id DESC")
    assert audited["action"] == "credit.entry_deleted"
    assert audited["changes"]["entry_id"] == first.entry.id


async def test_3_3_deleting_an_entry_never_takes_the_balance_below_zero(
    conn: asyncpg.Connection, client: Client, staff: Staff
) -> None:
    first = await add(conn, client, staff, "10")
    await remove(conn, client, staff, "4")
    with pytest.raises(DomainError) as refused:
        await services.delete_credit_entry(conn, first.entry.id, staff_id=staff.id)
    assert errors_of(refused.value) == {("id", ErrorCode.INSUFFICIENT_CREDIT)}
    assert await balance_and_sum(conn, client.id) == (Decimal("6.00"), Decimal("6.00"))


async def test_3_3_deleting_a_removal_gives_the_credit_back(
    conn: asyncpg.Connection, client: Client, staff: Staff
) -> None:
    await add(conn, client, staff, "10")
    removal = await remove(conn, client, staff, "4")
    change = await services.delete_credit_entry(conn, removal.entry.id, staff_id=staff.id)
    assert change.client.credit_balance == Decimal("10.00")


async def test_3_3_deleting_a_removal_never_takes_the_balance_past_the_largest(
    conn: asyncpg.Connection, client: Client, staff: Staff
) -> None:
    await add(conn, client, staff, "10")
    removal = await remove(conn, client, staff, "4")
    await add(conn, client, staff, "999999999993.99")
    with pytest.raises(DomainError) as refused:
        await services.delete_credit_entry(conn, removal.entry.id, staff_id=staff.id)
    assert errors_of(refused.value) == {("id", ErrorCode.INVALID)}
    assert await balance_and_sum(conn, client.id) == (MAX_AMOUNT, MAX_AMOUNT)
    assert await ledger.get_entry(conn, removal.entry.id) == removal.entry


async def test_3_3_deleting_an_unknown_entry_is_refused(
    conn: asyncpg.Connection, staff: Staff
) -> None:
    with pytest.raises(DomainError) as refused:
        await services.delete_credit_entry(conn, 404, staff_id=staff.id)
    assert errors_of(refused.value) == {("id", ErrorCode.NOT_FOUND)}


async def test_3_6_the_balance_always_equals_the_sum_of_the_log(
    conn: asyncpg.Connection, client: Client, staff: Staff
) -> None:
    entries = [await add(conn, client, staff, amount) for amount in ("1.10", "2.20", "3.30")]
    await remove(conn, client, staff, "0.60")
    await services.delete_credit_entry(conn, entries[1].entry.id, staff_id=staff.id)
    assert await balance_and_sum(conn, client.id) == (Decimal("3.80"), Decimal("3.80"))


async def test_3_6_concurrent_entries_on_one_client_lose_no_update(
    pool: asyncpg.Pool, conn: asyncpg.Connection, client: Client, staff: Staff
) -> None:
    async def add_one() -> None:
        async with pool.acquire() as own:
            await add(own, client, staff, "0.01")

    await asyncio.gather(*(add_one() for _ in range(20)))
    assert await balance_and_sum(conn, client.id) == (Decimal("0.20"), Decimal("0.20"))


# --- idempotency ----------------------------------------------------------------------------


async def test_idempotency_a_retry_with_the_same_key_has_no_second_effect(
    conn: asyncpg.Connection, client: Client, staff: Staff
) -> None:
    first = await add(conn, client, staff, "5", idempotency_key="k-1")
    # 5 and 5.00 are the same amount: the same request.
    again = await add(conn, client, staff, "5.00", idempotency_key="k-1")
    assert again.entry == first.entry
    assert await balance_and_sum(conn, client.id) == (Decimal("5.00"), Decimal("5.00"))
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'credit.%'") == 1


async def test_idempotency_a_key_reused_with_other_arguments_is_refused(
    conn: asyncpg.Connection, client: Client, staff: Staff
) -> None:
    await add(conn, client, staff, "5", idempotency_key="k-1")
    with pytest.raises(DomainError) as refused:
        await add(conn, client, staff, "6", idempotency_key="k-1")
    assert errors_of(refused.value) == {("idempotencyKey", ErrorCode.IDEMPOTENCY_CONFLICT)}
    assert await balance_and_sum(conn, client.id) == (Decimal("5.00"), Decimal("5.00"))


async def test_idempotency_a_key_reused_for_another_operation_is_refused(
    conn: asyncpg.Connection, client: Client, staff: Staff
) -> None:
    await add(conn, client, staff, "5", idempotency_key="k-1")
    with pytest.raises(DomainError) as refused:
        await services.remove_credit(
            conn,
            client.id,
            amount="5",
            reason="Goodwill",
            staff_id=staff.id,
            login_id=staff.login_id,
            idempotency_key="k-1",
        )
    assert errors_of(refused.value) == {("idempotencyKey", ErrorCode.IDEMPOTENCY_CONFLICT)}


async def test_idempotency_a_refused_request_does_not_use_up_its_key(
    conn: asyncpg.Connection, client: Client, staff: Staff
) -> None:
    with pytest.raises(DomainError):
        await add(conn, client, staff, "1.001", idempotency_key="k-1")
    change = await add(conn, client, staff, "1", idempotency_key="k-1")
    assert change.client.credit_balance == Decimal("1.00")


async def test_idempotency_keys_belong_to_the_login_that_used_them(
    conn: asyncpg.Connection, client: Client, staff: Staff
) -> None:
    other = await create_staff(
        conn,
        email="other@staff.example.com",
        password="staff-password-1",
        first_name="Otto",
        last_name="Other",
    )
    await add(conn, client, staff, "5", idempotency_key="k-1")
    await add(conn, client, other, "5", idempotency_key="k-1")
    assert await balance_and_sum(conn, client.id) == (Decimal("10.00"), Decimal("10.00"))


async def test_idempotency_concurrent_first_uses_of_a_key_perform_once(
    pool: asyncpg.Pool, conn: asyncpg.Connection, staff: Staff
) -> None:
    performed = 0
    first_inside = asyncio.Event()
    release = asyncio.Event()

    async def perform() -> dict[str, Any]:
        nonlocal performed
        performed += 1
        first_inside.set()
        await release.wait()
        return {"n": performed}

    async def use_key() -> dict[str, Any]:
        async with pool.acquire() as own, own.transaction():
            return await idempotent(
                own,
                login_id=staff.login_id,
                key="k",
                operation="op",
                arguments={"a": 1},
                perform=perform,
            )

    first = asyncio.create_task(use_key())
    await first_inside.wait()
    second = asyncio.create_task(use_key())
    await asyncio.sleep(0.2)  # the second is now waiting on the first's key row
    assert not second.done()
    release.set()
    assert await asyncio.gather(first, second) == [{"n": 1}, {"n": 1}]
    assert performed == 1


async def test_idempotency_keys_have_a_bounded_length(
    conn: asyncpg.Connection, client: Client, staff: Staff
) -> None:
    for key in ("", "k" * 256):
        with pytest.raises(DomainError) as refused:
            await add(conn, client, staff, "1", idempotency_key=key)
        assert errors_of(refused.value) == {("idempotencyKey", ErrorCode.INVALID)}


async def test_idempotency_keys_are_forgotten_after_a_day(
    conn: asyncpg.Connection, client: Client, staff: Staff
) -> None:
    await add(conn, client, staff, "5", idempotency_key="old")
    await add(conn, client, staff, "5", idempotency_key="new")
    await conn.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'"
    )
    assert await delete_expired_keys(conn) == 1
    assert await conn.fetchval("SELECT array_agg(key) FROM idempotency_keys") == ["new"]
    # Sent again after that, the request is a new one.
    await add(conn, client, staff, "5", idempotency_key="old")
    assert await balance_and_sum(conn, client.id) == (Decimal("15.00"), Decimal("15.00"))
