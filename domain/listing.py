"""Staff lists of one table (invoices, tickets, services): filtered, sorted in one of a few
orders, paged by keyset with their total (`domain.paging.fetch_page_and_total`).

A list describes itself once as a `Listing` (its columns, its table, its orders); a filter
writes its conditions into a `Conditions`; `Listing.page` reads the page and the total in
one statement. Every (filter, order) pair has an index that enters at the filter and walks
the order (migration 0032), so a deep page costs what the first does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Generic, TypeVar

import asyncpg

from domain.errors import DomainError, ErrorCode
from domain.paging import Keyset, Page, PageRequest, fetch_page_and_total
from domain.totals import Total

Item = TypeVar("Item")


@dataclass
class Conditions:
    """SQL conditions and their parameters, numbered from $1 in the order they are added."""

    sql: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, template: str, value: Any) -> None:
        """`template` with `{}` standing for `value`'s parameter, e.g. "status = ANY({})"."""
        self.params.append(value)
        self.sql.append(template.format(f"${len(self.params)}"))


def check_range(after: date | None, before: date | None, *, before_field: str) -> None:
    """INVALID for `before_field` when no day lies strictly between `after` and `before`."""
    if after is not None and before is not None and before <= after + timedelta(days=1):
        raise DomainError.single(
            ErrorCode.INVALID,
            f"Must be at least two days after {after.isoformat()}, the date the items must "
            "be due after: no day lies between the two.",
            before_field,
        )


@dataclass(frozen=True)
class Listing(Generic[Item]):
    """A table as a staff list: `SELECT {columns} {source}`, each row made an item by
    `build`; `orders` maps each order's name to its sort expression and that expression's
    SQL type (ties broken by `id_column`)."""

    columns: str
    source: str
    orders: Mapping[str, tuple[str, str]]
    build: Callable[[Mapping[str, Any]], Item]
    id_column: str = "id"

    async def page(
        self,
        conn: asyncpg.Connection,
        conditions: Conditions,
        request: PageRequest,
        *,
        order: str,
        descending: bool,
        look_behind: bool,
    ) -> tuple[Page[Item], Total]:
        """The page of the rows meeting `conditions`, in `order`, and how many meet them
        (exact up to `domain.totals.TOTAL_COUNT_CAP`)."""
        expression, sql_type = self.orders[order]
        return await fetch_page_and_total(
            conn,
            Keyset(self.columns, self.source, expression, sql_type, self.id_column),
            request,
            self.build,
            matching=self.source,
            conditions=conditions.sql,
            params=conditions.params,
            descending=descending,
            look_behind=look_behind,
        )
