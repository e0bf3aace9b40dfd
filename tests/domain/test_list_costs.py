"""Lists whose cost does not grow with the data: capped totals, the whole-address search on
its own index, and search statements planned for their values (docs/large-lists.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from domain.clients import queries
from domain.clients.models import ClientStatus
from domain.clients.queries import (
    CLIENT_COLUMNS,
    CLIENT_FROM,
    CLIENT_TABLE,
    ClientFilter,
    ClientOrderField,
    _plan_search,
    client_from_row,
)
from domain.errors import DomainError
from domain.paging import COLLECT_BELOW, Keyset, PageRequest, Position, fetch_page_and_total
from domain.totals import TOTAL_COUNT_CAP, Total, count_rows, custom_plans, estimate_rows

MANY = TOTAL_COUNT_CAP + 500  # the clients of the `many_clients` fixture
ESTIMATE_ERROR = 0.10  # the error docs/large-lists.md states for unfiltered and status totals


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


BY_ID = Keyset(CLIENT_COLUMNS, CLIENT_FROM, "c.id", "bigint", "c.id")


async def _page_and_count(
    conn: asyncpg.Connection,
    request: PageRequest,
    conditions: list[str],
    cap: int,
) -> tuple[list[int], Total, list[str]]:
    """The ids of the page `fetch_page_and_total` reads, its total, and the statements it
    sent."""
    statements: list[str] = []

    def log(record: Any) -> None:
        statements.append(record.query)

    conn.add_query_logger(log)
    try:
        page, total = await fetch_page_and_total(
            conn,
            BY_ID,
            request,
            client_from_row,
            matching=CLIENT_TABLE,
            conditions=conditions,
            look_behind=False,
            cap=cap,
        )
        await asyncio.sleep(0)  # a logger runs soon after its statement
    finally:
        conn.remove_query_logger(log)
    return [c.id for c in page.items], total, statements


@pytest.mark.parametrize(
    ("request_", "ids"),
    [
        pytest.param(PageRequest(3), [1, 2, 3], id="first-page"),
        pytest.param(PageRequest(3, after=Position(str(MANY), MANY)), [], id="past-the-end"),
    ],
)
async def test_1_8_a_list_counted_to_its_cap_is_paged_and_counted_by_one_statement(
    conn: asyncpg.Connection, many_clients: int, request_: PageRequest, ids: list[int]
) -> None:
    ids_read, total, statements = await _page_and_count(conn, request_, [], cap=MANY)

    assert (ids_read, total) == (ids, Total(MANY, is_estimate=False))
    # An empty page has no row to carry the count: counted as `count_rows` counts.
    assert len(statements) == (1 if ids else 3), statements
    assert "AS page_total" in statements[0]


async def test_1_8_a_list_counted_beyond_its_cap_gets_the_planners_estimate_in_the_same_statement(
    conn: asyncpg.Connection, many_clients: int
) -> None:
    ids, total, statements = await _page_and_count(conn, PageRequest(3), [], TOTAL_COUNT_CAP)
    planned = await estimate_rows(conn, CLIENT_TABLE)

    assert ids == [1, 2, 3]
    assert total == Total(planned, is_estimate=True)
    assert abs(total.count - MANY) <= ESTIMATE_ERROR * MANY, total
    assert len(statements) == 1 and "planner_row_estimate" in statements[0], statements


@pytest.mark.parametrize(
    ("condition", "total", "counted_in_page"),
    [
        # A tenth of the clients: the estimate expects few enough to count.
        pytest.param("c.status = 'CLOSED'", Total(MANY // 10, False), True, id="few"),
        # Nine tenths: the planner expects more than 10 × the cap of 100, no rows counted.
        pytest.param("c.status = 'ACTIVE'", None, False, id="many"),
    ],
)
async def test_1_8_a_filtered_list_is_counted_with_its_page_where_the_estimate_allows(
    conn: asyncpg.Connection,
    many_clients: int,
    condition: str,
    total: Total | None,
    counted_in_page: bool,
) -> None:
    cap = MANY if counted_in_page else 100
    ids, counted, statements = await _page_and_count(conn, PageRequest(3), [condition], cap)

    assert len(ids) == 3
    assert statements[0].startswith("EXPLAIN") and len(statements) == 2, statements
    assert ("AS page_total" in statements[1]) is counted_in_page
    if total is not None:
        assert counted == total
    else:
        assert counted.is_estimate and counted.count > 10 * cap, counted


# asyncpg's prepared statements whose text, spaces collapsed, is LIKE $1.
PREPARED_STATEMENTS = """FROM pg_prepared_statements
    WHERE NOT from_sql AND regexp_replace(statement, '\\s+', ' ', 'g') LIKE $1"""


async def _plan(conn: asyncpg.Connection, fragment: str, *args: str | int) -> str:
    """EXPLAIN of the prepared statement (asyncpg's) whose text holds `fragment`, taking
    as many parameters as `args` (a page after a cursor takes more)."""
    name = await conn.fetchval(  # the latest: asyncpg may have prepared it again since
        f"""SELECT name {PREPARED_STATEMENTS} AND cardinality(parameter_types) = $2
             ORDER BY prepare_time DESC LIMIT 1""",
        f"%{fragment}%",
        len(args),
    )
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
    # The statement collecting the matches once for the page and the total.
    page_sql = f"search_text LIKE $1 LIMIT {COLLECT_BELOW * TOTAL_COUNT_CAP + 1}"
    # Summed over every statement of that text the connection holds: asyncpg prepares a
    # statement again (a new name) when its cache dropped it, earlier tests' included.
    plans_so_far = f"""SELECT coalesce(sum(generic_plans), 0)::int AS generic,
                              coalesce(sum(custom_plans), 0)::int AS custom
                         {PREPARED_STATEMENTS}"""
    before = await conn.fetchrow(plans_so_far, f"%{page_sql}%")
    for client_filter in [rare, common] * 4:
        await queries.find_clients(conn, client_filter)
        await queries.count_clients(conn, client_filter)

    async with custom_plans(conn):
        page_plan = await _plan(conn, page_sql, "%jones17%", "%es17%", 51)
        after = await conn.fetchrow(plans_so_far, f"%{page_sql}%")
    # Without the setting the same prepared statement runs on a plan made without the term.
    generic_plan = await _plan(conn, page_sql, "%jones17%", "%es17%", 51)

    made = {kind: after[kind] - before[kind] for kind in ("generic", "custom")}
    assert made["generic"] == 0 and made["custom"] >= 8, made
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


async def _walk(
    conn: asyncpg.Connection, client_filter: ClientFilter, size: int, *, backwards: bool = False
) -> tuple[list[int], set[Total]]:
    """Every client of the filter in NAME order, page by page (from the end when
    `backwards`), as `find_and_count_clients` serves them; and the totals it gave."""
    pages: list[list[int]] = []
    totals: set[Total] = set()
    cursor = None
    while True:
        request = (
            PageRequest(size, backwards=True, before=cursor)
            if backwards
            else PageRequest(size, after=cursor)
        )
        page, total = await queries.find_and_count_clients(
            conn, client_filter, request, order=ClientOrderField.NAME
        )
        totals.add(total)
        pages.append([c.id for c in page.items])
        behind = page.has_next_page if backwards else page.has_previous_page
        assert behind is (len(pages) > 1)
        if not (page.has_previous_page if backwards else page.has_next_page):
            if backwards:
                pages.reverse()
            return [pk for ids in pages for pk in ids], totals
        cursor = page.positions[0] if backwards else page.positions[-1]


# Prepared statements that search for a page, a look behind it or a total on their own.
SEPARATE_SCANS = (
    "SELECT (%)::text AS page_sort_value%search_text LIKE $1%",
    "SELECT EXISTS (SELECT 1 %search_text LIKE $1%",
    "%search_text LIKE $1 LIMIT 1001) AS capped%",
)


async def _executions(conn: asyncpg.Connection, statements: tuple[str, ...]) -> int:
    """How many times this connection has run its prepared statements LIKE `statements`."""
    executions: int = await conn.fetchval(
        """SELECT coalesce(sum(generic_plans + custom_plans), 0)::int
              FROM pg_prepared_statements
             WHERE NOT from_sql
               AND regexp_replace(statement, '\\s+', ' ', 'g') LIKE ANY($1::text[])""",
        list(statements),
    )
    return executions


@pytest.mark.parametrize(
    ("term", "matches", "is_estimate"),
    [
        pytest.param("smith", MANY // 3, False, id="below-the-cap"),
        pytest.param("jones", TOTAL_COUNT_CAP, False, id="at-the-cap"),
        pytest.param("pat", MANY, True, id="above-the-cap"),
    ],
)
async def test_1_8_a_search_is_paged_and_counted_from_its_matches_found_once(
    conn: asyncpg.Connection, many_clients: int, term: str, matches: int, is_estimate: bool
) -> None:
    search = ClientFilter(search=term)
    in_order = [
        row["id"]
        for row in await conn.fetch(
            """SELECT id FROM clients WHERE search_text LIKE $1
                ORDER BY lower(last_name || ', ' || first_name), id""",
            f"%{term}%",
        )
    ]

    scans_before = await _executions(conn, SEPARATE_SCANS)
    forwards, totals = await _walk(conn, search, 400)
    backwards, back_totals = await _walk(conn, search, 400, backwards=True)

    assert len(in_order) == matches
    assert forwards == in_order and backwards == in_order
    # Exact up to the cap; beyond it flagged an estimate, the number of matches found.
    assert totals == back_totals == {Total(matches, is_estimate)}
    assert await _executions(conn, SEPARATE_SCANS) == scans_before


async def test_1_8_a_search_matching_more_than_are_collected_reads_its_page_and_estimates(
    conn: asyncpg.Connection, many_clients: int
) -> None:
    # With a cap of 100, up to 500 matches are collected; "pat" matches all 1,500.
    keyset = Keyset(CLIENT_COLUMNS, CLIENT_FROM, "c.id", "bigint", "c.id")
    params: list[Any] = []
    conditions = ClientFilter(search="pat").where(params)
    scans_before = await _executions(conn, SEPARATE_SCANS[:1])

    page, total = await fetch_page_and_total(
        conn,
        keyset,
        PageRequest(50, after=Position("10", 10)),
        client_from_row,
        matching=CLIENT_TABLE,
        conditions=conditions,
        params=params,
        cap=100,
        collect=True,
    )

    assert [c.id for c in page.items] == list(range(11, 61))
    assert (page.has_previous_page, page.has_next_page) == (True, True)
    assert total.is_estimate and total.count > COLLECT_BELOW * 100, total
    assert await _executions(conn, SEPARATE_SCANS[:1]) == scans_before + 1


async def test_1_8_a_fragment_whose_matches_are_collected_is_never_searched_along_the_order(
    conn: asyncpg.Connection, many_clients: int
) -> None:
    smiths = ClientFilter(search="smith")  # a third of the clients: the page alone would walk
    await queries.find_and_count_clients(conn, smiths, order=ClientOrderField.NAME)
    collecting = f"search_text LIKE $1 LIMIT {COLLECT_BELOW * TOTAL_COUNT_CAP + 1}"

    async with conn.transaction():
        # As at a million clients, where reading the whole table is out of the question.
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = await _plan(conn, collecting, "%smith%", "%mith%", 51)
        # The page alone, as it was read before, walks the order's index and filters.
        alone = await conn.fetch(
            f"""EXPLAIN SELECT c.id {CLIENT_FROM} WHERE c.search_text LIKE '%smith%'
                 ORDER BY lower(c.last_name || ', ' || c.first_name), c.id LIMIT 51"""
        )

    # Entered by a part of the fragment first (the narrowing), then the whole fragment.
    assert "Index Cond: ((search_text ~~ '%mith%'::text) AND (search_text ~~ '%smith%'" in plan
    assert "clients_order_name" not in plan, plan
    assert "clients_order_name" in "\n".join(row[0] for row in alone)


async def test_1_8_a_long_fragment_enters_the_index_by_its_rarest_part(
    conn: asyncpg.Connection, many_clients: int
) -> None:
    # Every client's address has "@mail"; few have "nt17" (client17, client170 to 179).
    search = ClientFilter(search="NT17@Mail")
    params: list[Any] = []
    conditions = search.where(params)

    estimate, narrowing, narrowing_params = await _plan_search(
        conn, conditions, params, search.fragment
    )
    page, total = await queries.find_and_count_clients(conn, search)

    assert narrowing == ["c.search_text LIKE $2"]
    assert narrowing_params[0] in ("%nt17%", "%t17@%", "%17@m%"), narrowing_params
    assert total == Total(1, is_estimate=False)
    assert [c.email for c in page.items] == ["client17@mail.example"]
    assert estimate <= TOTAL_COUNT_CAP
