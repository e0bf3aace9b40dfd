"""Services, addons and domains of clients: reading them and changing their status."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from domain import audit
from domain.billing.models import BillableItem, BillingCycle, DomainStatus, ItemKind, ServiceStatus
from domain.catalogue.emails import queue_item_emails
from domain.errors import NotFound
from domain.nested import by_id, first_of_each, grouped

ITEM_COLUMNS = """id, client_id, order_id, name, amount, billing_cycle, status, payment_method,
    next_due_date, created_at"""


# What one kind has beyond the others: a domain its auto-renewal choice, an addon its service.
_KIND_COLUMNS = {
    ItemKind.SERVICE: "",
    ItemKind.ADDON: ", service_id",
    ItemKind.DOMAIN: ", auto_renew",
}


# The same, as columns every kind has, for a statement that reads several kinds at once.
_UNION_COLUMNS = {
    ItemKind.SERVICE: ", NULL::bigint AS service_id, NULL::boolean AS auto_renew",
    ItemKind.ADDON: ", service_id, NULL::boolean AS auto_renew",
    ItemKind.DOMAIN: ", NULL::bigint AS service_id, auto_renew",
}


def item_columns(kind: ItemKind) -> str:
    """The columns of an item of `kind`."""
    return ITEM_COLUMNS + _KIND_COLUMNS[kind]


def item_from_row(kind: ItemKind, row: asyncpg.Record) -> BillableItem:
    values = dict(row)
    return BillableItem(
        **{**values, "kind": kind, "billing_cycle": BillingCycle(values["billing_cycle"])}
    )


async def items_by_client(
    conn: asyncpg.Connection,
    kind: ItemKind,
    client_ids: Sequence[int],
    *,
    statuses: Iterable[str] | None = None,
    per_client: int | None = None,
) -> dict[int, list[BillableItem]]:
    """Each client's items of one kind, oldest first; only `statuses` when given; at most
    `per_client` each."""
    wanted = None if statuses is None else [str(s) for s in statuses]
    rows = await conn.fetch(
        first_of_each(
            f"""SELECT {item_columns(kind)} FROM {kind.table}
                 WHERE client_id = {{parent}} AND ($3::text[] IS NULL OR status = ANY($3))
                 ORDER BY id"""
        ),
        list(client_ids),
        per_client,
        wanted,
    )
    return grouped(rows, client_ids, lambda row: item_from_row(kind, row))


async def addons_by_service(
    conn: asyncpg.Connection, service_ids: Sequence[int], *, per_service: int | None = None
) -> dict[int, list[BillableItem]]:
    """Each service's addons, oldest first, at most `per_service` each."""
    rows = await conn.fetch(
        first_of_each(
            f"""SELECT {item_columns(ItemKind.ADDON)} FROM addons
                 WHERE service_id = {{parent}} ORDER BY id"""
        ),
        list(service_ids),
        per_service,
    )
    return grouped(
        rows, service_ids, lambda row: item_from_row(ItemKind.ADDON, row), parent="service_id"
    )


async def items_by_ids(
    conn: asyncpg.Connection, kinds: Sequence[ItemKind], ids: Sequence[int]
) -> dict[int, BillableItem]:
    """The items of these ids among those of `kinds` (ids are unique across all three), in
    one statement."""
    tables = " UNION ALL ".join(
        f"SELECT '{kind.value}' AS kind, {ITEM_COLUMNS}{_UNION_COLUMNS[kind]} FROM {kind.table}"
        " WHERE id = ANY($1::bigint[])"
        for kind in kinds
    )
    rows = await conn.fetch(tables, list(ids))
    return by_id(rows, lambda row: item_from_row(ItemKind(row["kind"]), row))


async def items_by_order(
    conn: asyncpg.Connection, order_ids: Sequence[int]
) -> dict[int, list[BillableItem]]:
    found: dict[int, list[BillableItem]] = {oid: [] for oid in order_ids}
    for kind in ItemKind:
        rows = await conn.fetch(
            f"""SELECT {item_columns(kind)} FROM {kind.table}
                 WHERE order_id = ANY($1::bigint[])""",
            list(order_ids),
        )
        for row in rows:
            found[row["order_id"]].append(item_from_row(kind, row))
    for items in found.values():
        items.sort(key=lambda item: item.id)
    return found


async def set_service_status(
    conn: asyncpg.Connection,
    item_id: int,
    status: ServiceStatus,
    *,
    staff_id: int | None,
    client_area_url: str,
) -> BillableItem:
    """Set the status of a service or an addon (ids are unique across both); one newly
    SUSPENDED is told so by email."""
    for kind in (ItemKind.SERVICE, ItemKind.ADDON):
        async with conn.transaction():
            previous = await conn.fetchval(
                f"SELECT status FROM {kind.table} WHERE id = $1 FOR UPDATE", item_id
            )
            item = await _set_status(conn, kind, item_id, status.value, staff_id=staff_id)
            if item is None:
                continue
            if status is ServiceStatus.SUSPENDED and previous != status:
                await queue_item_emails(
                    conn, "service_suspended", kind, [item_id], client_area_url=client_area_url
                )
            return item
    raise NotFound("Service")


async def set_domain_status(
    conn: asyncpg.Connection, domain_id: int, status: DomainStatus, *, staff_id: int | None
) -> BillableItem:
    item = await _set_status(conn, ItemKind.DOMAIN, domain_id, status.value, staff_id=staff_id)
    if item is None:
        raise NotFound("Domain")
    return item


async def set_domain_auto_renew(
    conn: asyncpg.Connection, domain_id: int, auto_renew: bool, *, client_id: int
) -> BillableItem:
    """The client's choice whether its own domain renews (SPEC 9.5, 14.2); another client's
    domain is not found."""
    row = await conn.fetchrow(
        f"""UPDATE domains SET auto_renew = $3 WHERE id = $1 AND client_id = $2
            RETURNING {item_columns(ItemKind.DOMAIN)}""",
        domain_id,
        client_id,
        auto_renew,
    )
    if row is None:
        raise NotFound("Domain", "domainId")
    await audit.record(
        conn,
        staff_id=None,
        action="domain.auto_renew_set",
        client_id=client_id,
        changes={"id": domain_id, "auto_renew": auto_renew},
    )
    return item_from_row(ItemKind.DOMAIN, row)


async def _set_status(
    conn: asyncpg.Connection, kind: ItemKind, item_id: int, status: str, *, staff_id: int | None
) -> BillableItem | None:
    async with conn.transaction():
        previous = await conn.fetchval(
            f"SELECT status FROM {kind.table} WHERE id = $1 FOR UPDATE", item_id
        )
        if previous is None:
            return None
        row = await conn.fetchrow(
            f"UPDATE {kind.table} SET status = $2 WHERE id = $1 RETURNING {item_columns(kind)}",
            item_id,
            status,
        )
        if previous != status:
            await audit.record(
                conn,
                staff_id=staff_id,
                action=f"{kind.value.lower()}.status_changed",
                client_id=row["client_id"],
                changes={"id": item_id, "status": {"from": previous, "to": status}},
            )
        return item_from_row(kind, row)
