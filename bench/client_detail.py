"""GraphQL `client(id)` with contacts, services and invoices against a raw baseline.

    python -m bench.client_detail            # the options of bench.clients_query

The harness of bench.clients_query (imported, not copied): a private PostgreSQL and Redis,
the seeded clients, the real app and bench/raw_app.py's `/raw/client` in their own uvicorn
processes, the same answer checked, then interleaved rounds of load. One client (the first
seeded) gets `CONTACTS` contacts and `ORDERS` orders of `SERVICES_PER_ORDER` services, each
order invoiced, so the answer holds three nested lists.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import asyncpg

from bench import postgraphile
from bench.clients_query import (
    Bench,
    PeerQuery,
    measure_in_temporary_directory,
    parse_args,
)
from bench.comparison import ratio_targets
from bench.harness import Totals, console
from bench.targets import Target, print_targets
from domain.billing import orders
from domain.billing.models import ItemKind
from schema.ids import global_id

CONTACTS = 3
ORDERS = 3
SERVICES_PER_ORDER = 2
# The first seeded client of a fresh database.
CLIENT_ID = 1

QUERY = """query Client($id: ID!) {
  client(id: $id) {
    id firstName lastName companyName email displayName status
    currency { code prefix suffix }
    creditBalance
    contacts { id firstName lastName email }
    services { id name amount billingCycle status nextDueDate }
    invoices { id number status dueDate total balance }
  }
}"""


async def add_detail(conn: asyncpg.Connection) -> None:
    for n in range(CONTACTS):
        await conn.execute(
            """INSERT INTO contacts (client_id, first_name, last_name, email)
               VALUES ($1, 'Contact', $2, $3)""",
            CLIENT_ID,
            str(n),
            f"contact{n}@bench.example.com",
        )
    for n in range(ORDERS):
        await orders.place_order(
            conn,
            CLIENT_ID,
            items=[
                {"kind": ItemKind.SERVICE, "name": f"hosting{n}-{i}.example.com", "amount": "9.95"}
                for i in range(SERVICES_PER_ORDER)
            ],
            payment_method="banktransfer",
            staff_id=None,
        )
    console.print(
        f"Client {CLIENT_ID}: {CONTACTS} contacts, {ORDERS * SERVICES_PER_ORDER} services, "
        f"{ORDERS} invoices."
    )


def check_detail(data: dict[str, Any], clients: int) -> str:
    client = data["client"]
    lengths = (len(client["contacts"]), len(client["services"]), len(client["invoices"]))
    if lengths != (CONTACTS, ORDERS * SERVICES_PER_ORDER, ORDERS):
        raise RuntimeError(f"unexpected client: contacts, services, invoices {lengths}")
    return "the client with {} contacts, {} services and {} invoices equal".format(*lengths)


DETAIL = Bench(
    "client(id) with contacts, services, invoices",
    QUERY,
    "/raw/client",
    check_detail,
    variables={"id": str(global_id("Client", CLIENT_ID))},
    add_data=add_detail,
    peer=PeerQuery(
        postgraphile.CLIENT_QUERY,
        {"id": str(CLIENT_ID)},
        postgraphile.our_client,
        postgraphile.their_client,
    ),
)
QUICK = ["--clients", "200", "--duration", "4", "--rounds", "2", "--warmup", "1"]


def detail_targets(totals: dict[str, Totals]) -> list[Target]:
    return ratio_targets("client(id)", totals, peer_rate=1.0)


def targets(quick: bool) -> list[Target]:
    """`client(id)` with its lists against PostGraphile (issue 24), in the same run."""
    args = parse_args([*(QUICK if quick else []), "--workers", "1"])
    totals = measure_in_temporary_directory(args, DETAIL)
    if totals is None:
        raise RuntimeError("bench.client_detail did not finish")
    return detail_targets(totals)


def main(argv: list[str] | None = None) -> int:
    args: argparse.Namespace = parse_args(argv)
    totals = measure_in_temporary_directory(args, DETAIL)
    if totals is None:
        return 1
    print_targets(detail_targets(totals), console)
    return 1 if any(t.errors for t in totals.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
