"""Lists whose cost does not grow with the data: capped totals, the whole-address search on
its own index, and search statements planned for their values (docs/scale.md)."""

from __future__ import annotations

import asyncpg
import pytest

from domain.clients import queries
from domain.clients.models import ClientStatus
from domain.clients.queries import ClientFilter, ClientOrderField
from domain.errors import DomainError
from domain.paging import (
    TOTAL_COUNT_CAP,
    PageRequest,
    Position,
    Total,
    count_rows,
    custom_plans,
)

MANY = TOTAL_COUNT_CAP + 500  # the clients of the `many_clients` fixture
ESTIMATE_ERROR = 0.10  # the error docs/scale.md states for unfiltered and status totals


async def test_a_total_below_the_cap_is_exact(conn: asyncpg.Connection, many_clients: int) -> None:
    closed = ClientFilter(statuses=(ClientStatus.CLOSED,))
    smiths = ClientFilter(search="smith")

    assert await queries.count_clients(conn, closed) == Total(MANY // 10, is_estimate=False)
    assert await queries.count_clients(conn, smiths) == Total(MANY // 3, is_estimate=False)


@pytest.mark.parametrize(
    ("client_filter", "exact"),
    [
        pytest.param(ClientFilter(), MANY, id="all"),
        pytest.param(ClientFilter(statuses=(ClientStatus.ACTIVE,)), MANY - MANY // 10, id="status"),
    ],
)
async def test_a_total_above_the_cap_is_an_estimate_within_the_stated_error(
    conn: asyncpg.Connection, many_clients: int, client_filter: ClientFilter, exact: int
) -> None:
    total = await queries.count_clients(conn, client_filter)

    assert total.is_estimate
    assert abs(total.count - exact) <= ESTIMATE_ERROR * exact, total


async def test_an_estimate_is_never_below_what_was_counted(
    conn: asyncpg.Connection, many_clients: int
) -> None:
    # The planner guesses 0.5% for an equality on an expression it has no statistics of;
    # half the clients match, far more than the cap of 100 counted before stopping.
    total = await count_rows(conn, "FROM clients c", conditions=["c.id % 2 = 0"], cap=100)

    assert total == Total(101, is_estimate=True)


# asyncpg's prepared statements whose text, spaces collapsed, is LIKE $1.
PREPARED_STATEMENTS = """FROM pg_prepared_statements
    WHERE NOT from_sql AND regexp_replace(statement, '\\s+', ' ', 'g') LIKE $1"""


async def _plan(conn: asyncpg.Connection, fragment: str, *args: str | int) -> str:
    """EXPLAIN of the prepared statement (asyncpg's) whose text holds `fragment`."""
    name = await conn.fetchval(f"SELECT name {PREPARED_STATEMENTS}", f"%{fragment}%")
    assert name is not None, f"no prepared statement with {fragment!r}"
    # EXECUTE takes no bind parameters: the test's own values, as literals.
    literals = ", ".join(f"'{a}'" if isinstance(a, str) else str(a) for a in args)
    rows = await conn.fetch(f'EXPLAIN EXECUTE "{name}"({literals})')
    return "\n".join(row[0] for row in rows)


async def test_1_8_a_whole_address_finds_that_client_only_on_the_address_index(
    conn: asyncpg.Connection, many_clients: int
) -> None:
    whole = ClientFilter(search=" JOE@Shop.example ")

    page = await queries.find_clients(conn, whole)
    total = await queries.count_clients(conn, whole)

    # Not bigjoe@shop.example, which contains it: the address, not a fragment.
    assert [c.email for c in page.items] == ["joe@shop.example"]
    assert total == Total(1, is_estimate=False)
    page_plan = await _plan(conn, "lower(c.email::text) = $1 ORDER BY", "joe@shop.example", 51)
    count_plan = await _plan(conn, "lower(c.email::text) = $1 LIMIT", "joe@shop.example")
    for plan in (page_plan, count_plan):
        assert "clients_order_email" in plan, plan
        assert "search_text" not in plan, plan


async def test_search_statements_keep_custom_plans_after_five_executions(
    conn: asyncpg.Connection, many_clients: int
) -> None:
    rare, common = ClientFilter(search="jones17"), ClientFilter(search="smith")
    for client_filter in [rare, common] * 4:
        await queries.find_clients(conn, client_filter)
        await queries.count_clients(conn, client_filter)
    page_sql = "search_text LIKE $1 ORDER BY"

    async with custom_plans(conn):
        page_plan = await _plan(conn, page_sql, "%jones17%", 51)
        counts = await conn.fetchrow(
            f"SELECT generic_plans, custom_plans {PREPARED_STATEMENTS}", f"%{page_sql}%"
        )
    # Without the setting the same prepared statement runs on a plan made without the term.
    generic_plan = await _plan(conn, page_sql, "%jones17%", 51)

    assert counts["generic_plans"] == 0 and counts["custom_plans"] >= 8, dict(counts)
    assert "'%jones17%'" in page_plan and "$1" not in page_plan, page_plan
    assert "$1" in generic_plan, generic_plan


async def test_a_total_expected_far_above_the_cap_is_estimated_without_counting(
    conn: asyncpg.Connection, many_clients: int
) -> None:
    total = await count_rows(conn, "FROM clients c", cap=100)  # 15 times the cap expected

    counted = await conn.fetchval(
        f"SELECT count(*) {PREPARED_STATEMENTS}", "%FROM clients c LIMIT 101) AS capped%"
    )
    assert total.is_estimate and abs(total.count - MANY) <= ESTIMATE_ERROR * MANY, total
    assert counted == 0


async def test_a_position_refused_inside_a_search_leaves_no_transaction_open(
    conn: asyncpg.Connection, many_clients: int
) -> None:
    smiths = ClientFilter(search="smith")
    request = PageRequest(5, after=Position("not a date", 1))

    with pytest.raises(DomainError):
        await queries.find_clients(conn, smiths, request, order=ClientOrderField.CREATED_AT)

    assert not conn.is_in_transaction()
    assert (await queries.count_clients(conn, smiths)).count == MANY // 3
