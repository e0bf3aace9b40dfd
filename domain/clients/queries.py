"""Reading clients: by id, in batches, and searched with keyset pagination (SPEC 1.8)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

import asyncpg

from domain.clients.models import Client, ClientStatus, Currency
from domain.paging import Keyset, Page, PageRequest, fetch_page, fetch_page_and_total, reads_tail
from domain.totals import Total, count_rows, custom_plans
from domain.validation import normalize_email

# The SQL that reads each field of `Client`: CLIENT_COLUMNS selects them in the fields' order,
# so that `client_from_row` reads a row by position.
_CLIENT_FIELD_SQL = {
    "id": "c.id",
    "owner_login_id": "c.owner_login_id",
    "first_name": "c.first_name",
    "last_name": "c.last_name",
    "company_name": "c.company_name",
    "email": "c.email::text",
    "phone_number": "c.phone_number",
    "address1": "c.address1",
    "address2": "c.address2",
    "city": "c.city",
    "state": "c.state",
    "postcode": "c.postcode",
    "country": "c.country",
    "language": "c.language",
    "currency": "c.currency",
    "notes": "c.notes",
    "status": "c.status",
    "overdue_notices_disabled": "c.overdue_notices_disabled",
    "late_fees_exempt": "c.late_fees_exempt",
    "tax_exempt": "c.tax_exempt",
    "separate_invoices": "c.separate_invoices",
    "cc_processing_disabled": "c.cc_processing_disabled",
    "default_payment_method": "c.default_payment_method",
    "billing_contact_id": "c.billing_contact_id",
    "credit_balance": "c.credit_balance",
    "two_factor_enabled": "l.totp_enabled AS two_factor_enabled",
    "last_login_at": "l.last_login_at",
    "created_at": "c.created_at",
    "updated_at": "c.updated_at",
}
_CLIENT_FIELDS = [f.name for f in fields(Client)]
CLIENT_COLUMNS = ", ".join(_CLIENT_FIELD_SQL[name] for name in _CLIENT_FIELDS)
CLIENT_FROM = "FROM clients c JOIN logins l ON l.id = c.owner_login_id"
# Where a filter's matches are found and counted: the clients alone.
CLIENT_TABLE = "FROM clients c"
CLIENT_SELECT = f"SELECT {CLIENT_COLUMNS} {CLIENT_FROM}"
_STATUS = _CLIENT_FIELDS.index("status")


@reads_tail
def client_from_row(row: asyncpg.Record) -> Client:
    """The client of a row that ends with CLIENT_COLUMNS (a record, or a page's mapping of
    them), read by position: by name, the 29 lookups cost more than making the client."""
    values = list(row.values())[-len(_CLIENT_FIELDS) :]
    values[_STATUS] = ClientStatus(values[_STATUS])
    return Client(*values)


async def get_client(conn: asyncpg.Connection, client_id: int) -> Client | None:
    row = await conn.fetchrow(f"{CLIENT_SELECT} WHERE c.id = $1", client_id)
    return client_from_row(row) if row else None


async def clients_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, Client]:
    rows = await conn.fetch(f"{CLIENT_SELECT} WHERE c.id = ANY($1::bigint[])", list(ids))
    return {row["id"]: client_from_row(row) for row in rows}


async def all_currencies(conn: asyncpg.Connection) -> dict[str, Currency]:
    rows = await conn.fetch("SELECT code, prefix, suffix, is_default FROM currencies")
    return {row["code"]: Currency(**dict(row)) for row in rows}


class ClientOrderField(StrEnum):
    ID = "ID"
    NAME = "NAME"
    COMPANY = "COMPANY"
    EMAIL = "EMAIL"
    CREATED_AT = "CREATED_AT"


# The sort expression of each order and its SQL type; each has an index on (expression, id).
_ORDER_EXPRESSIONS: dict[ClientOrderField, tuple[str, str]] = {
    ClientOrderField.ID: ("c.id", "bigint"),
    ClientOrderField.NAME: ("lower(c.last_name || ', ' || c.first_name)", "text"),
    ClientOrderField.COMPANY: ("lower(coalesce(c.company_name, ''))", "text"),
    ClientOrderField.EMAIL: ("lower(c.email::text)", "text"),
    ClientOrderField.CREATED_AT: ("c.created_at", "timestamptz"),
}


# A search that is one whole address (something@domain.tld, no spaces) looks for it exactly.
_WHOLE_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class ClientFilter:
    search: str | None = None
    statuses: tuple[ClientStatus, ...] = ()

    @property
    def by_address(self) -> bool:
        """Whether the search is a whole email address, found on the address's own index."""
        return bool(_WHOLE_ADDRESS.match((self.search or "").strip()))

    @property
    def plan_depends_on_values(self) -> bool:
        """Whether the best plan depends on the values: a search fragment may match one client
        (the trigram index) or half of them (the sort order's index, stopping early), a
        status one in two or one in a thousand (its own index, or the order's)."""
        searches = bool((self.search or "").strip()) and not self.by_address
        return searches or bool(self.statuses)

    @property
    def fragment(self) -> str:
        """The search as a fragment of `search_text` ("" for none or a whole address)."""
        return "" if self.by_address else (self.search or "").strip().lower()

    def where(self, params: list[Any]) -> list[str]:
        """SQL conditions for this filter, appending their parameters to `params`."""
        conditions = []
        if self.by_address:
            # The btree on the lower-cased address (clients_order_email), not a trigram scan.
            params.append(normalize_email((self.search or "").strip().lower()))
            conditions.append(f"lower(c.email::text) = ${len(params)}")
        elif self.fragment:
            conditions.append(_containing(self.fragment, params))
        if self.statuses:
            params.append([s.value for s in self.statuses])
            conditions.append(f"c.status = ANY(${len(params)}::text[])")
        return conditions


def _containing(part: str, params: list[Any]) -> str:
    """The condition "search_text contains `part`", its pattern appended to `params`."""
    escaped = part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    params.append(f"%{escaped}%")
    return f"c.search_text LIKE ${len(params)}"


# A fragment longer than this is also looked for by its rarest part of this length (two
# trigrams), among at most `MAX_PARTS` of them evenly spread.
PART_LENGTH = 4
MAX_PARTS = 8


def _parts(fragment: str) -> list[str]:
    """The fragment's parts of `PART_LENGTH`, at most `MAX_PARTS` of them."""
    if len(fragment) <= PART_LENGTH:
        return []
    starts = range(len(fragment) - PART_LENGTH + 1)
    step = -(-len(starts) // MAX_PARTS)  # rounded up
    return [fragment[start : start + PART_LENGTH] for start in starts[::step]]


async def _plan_search(
    conn: asyncpg.Connection, conditions: list[str], params: list[Any], fragment: str
) -> tuple[int, list[str], list[Any]]:
    """The planner's estimate of the clients matching `conditions`; and for a long fragment
    the condition on its part the planner expects fewest clients to contain (its parameter
    numbered after `params`), for the trigram index to be entered by that part.

    Within one condition the index reads every trigram's list alongside the rarest, and a
    trigram most clients have (a common domain's, the bench seed's run tag) costs a page
    per few thousand clients: ~10 ms at a million. Entered by a rarer part first, it checks
    the other trigrams only for what that part matches (measured: 9.7 ms down to 1.5 ms).
    One EXPLAIN plans the parts with the whole (about 0.1 ms a part)."""
    parts = _parts(fragment)
    numbered = list(params)
    queries = [f"SELECT 1 {CLIENT_TABLE} WHERE {' AND '.join(conditions)}"]
    queries += [f"SELECT 1 {CLIENT_TABLE} WHERE {_containing(part, numbered)}" for part in parts]
    plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {' UNION ALL '.join(queries)}", *numbered)
    if isinstance(plan, str):  # a connection without the application's json codec
        plan = json.loads(plan)
    if not parts:
        return round(plan[0]["Plan"]["Plan Rows"]), [], []
    whole, *estimates = (round(branch["Plan Rows"]) for branch in plan[0]["Plan"]["Plans"])
    rarest = parts[min(range(len(parts)), key=estimates.__getitem__)]
    narrowing_params = list(params)
    narrowing = _containing(rarest, narrowing_params)
    return whole, [narrowing], narrowing_params[len(params) :]


# The first 50 clients: what a list shows when not told otherwise.
FIRST_PAGE = PageRequest(size=50)


async def find_clients(
    conn: asyncpg.Connection,
    client_filter: ClientFilter,
    request: PageRequest = FIRST_PAGE,
    *,
    order: ClientOrderField = ClientOrderField.ID,
    descending: bool = False,
    look_behind: bool = True,
) -> Page[Client]:
    """A page of the matching clients in `order` (see `domain.paging.fetch_page`).

    A filter whose matches may be few is read as `find_and_count_clients` reads it: a rare
    search fragment is then looked for on its index, never by walking the order."""
    if client_filter.plan_depends_on_values:
        page, _ = await find_and_count_clients(
            conn,
            client_filter,
            request,
            order=order,
            descending=descending,
            look_behind=look_behind,
        )
        return page
    params: list[Any] = []
    conditions = client_filter.where(params)
    return await fetch_page(
        conn,
        _keyset(order),
        request,
        client_from_row,
        conditions=conditions,
        params=params,
        descending=descending,
        look_behind=look_behind,
    )


async def find_and_count_clients(
    conn: asyncpg.Connection,
    client_filter: ClientFilter,
    request: PageRequest = FIRST_PAGE,
    *,
    order: ClientOrderField = ClientOrderField.ID,
    descending: bool = False,
    look_behind: bool = True,
) -> tuple[Page[Client], Total]:
    """A page of the matching clients and how many match, exact up to
    `domain.totals.TOTAL_COUNT_CAP`. A filter whose matches may be few is read by
    `domain.paging.fetch_page_and_total`: a rare search fragment's matches are found once,
    on its index, for both; other lists are counted by their page's statement."""
    params: list[Any] = []
    conditions = client_filter.where(params)
    searching = client_filter.plan_depends_on_values
    async with custom_plans(conn) if searching else nullcontext():
        estimate, narrowing, narrowing_params = (
            await _plan_search(conn, conditions, params, client_filter.fragment)
            if searching
            else (None, [], [])
        )
        return await fetch_page_and_total(
            conn,
            _keyset(order),
            request,
            client_from_row,
            matching=CLIENT_TABLE,
            conditions=conditions,
            params=params,
            descending=descending,
            look_behind=look_behind,
            collect=searching,
            estimate=estimate,
            narrowing=narrowing,
            narrowing_params=narrowing_params,
        )


def _keyset(order: ClientOrderField) -> Keyset:
    expression, sql_type = _ORDER_EXPRESSIONS[order]
    return Keyset(CLIENT_COLUMNS, CLIENT_FROM, expression, sql_type, "c.id")


async def count_clients(conn: asyncpg.Connection, client_filter: ClientFilter) -> Total:
    """How many clients match: exact up to `domain.totals.TOTAL_COUNT_CAP`, estimated above."""
    params: list[Any] = []
    conditions = client_filter.where(params)
    count = count_rows(conn, CLIENT_TABLE, conditions=conditions, params=params)
    if not client_filter.plan_depends_on_values:
        return await count
    async with custom_plans(conn):
        return await count
