"""The raw baselines of `bench.clients_query` and `bench.client_detail`: Starlette routes,
asyncpg, a few queries each.

`/raw` answers the `clients(first: 50)` query (two queries) and `/raw/client` the
`client(id)` query with contacts, services and invoices (four queries, on one connection)
with exactly the JSON body the GraphQL endpoint returns (same fields, same order, same
values, same cursors), so the difference in throughput is what Strawberry, graphql-core and
our resolvers cost. They skip what a baseline need not do: no parsing of the query, no
session lookup, no settings or currency cache (the display name follows the default
NAME_ONLY format; the check in the benchmark proves the bodies are equal).

Served by uvicorn as a factory: `uvicorn --factory bench.raw_app:create_app`, reading
DATABASE_URL, DB_POOL_MIN and DB_POOL_MAX like the real app.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.db import create_pool
from domain.money import format_amount
from domain.paging import Position
from resolvers.pagination import encode_cursor
from schema.ids import decode_id, global_id

PAGE_SIZE = 50

# The page (one row more, to know whether a next page exists), its currency and the total,
# the latter as an uncorrelated sub-select that PostgreSQL runs once.
PAGE_SQL = """
SELECT c.id, c.first_name, c.last_name, c.company_name, c.email::text AS email, c.status,
       c.currency, cu.prefix, cu.suffix, c.city, c.country, c.credit_balance,
       (SELECT count(*) FROM clients) AS total_count
  FROM clients c JOIN currencies cu ON cu.code = c.currency
 ORDER BY c.id
 LIMIT $1"""

EMAILS_SQL = """
SELECT client_id, subject, sent_at
  FROM emails
 WHERE client_id = ANY($1::bigint[]) AND sent_at IS NOT NULL
 ORDER BY client_id, sent_at DESC"""


CLIENT_SQL = """
SELECT c.id, c.first_name, c.last_name, c.company_name, c.email::text AS email, c.status,
       c.currency, cu.prefix, cu.suffix, c.credit_balance
  FROM clients c JOIN currencies cu ON cu.code = c.currency
 WHERE c.id = $1"""
CONTACTS_SQL = """
SELECT id, first_name, last_name, email::text AS email
  FROM contacts WHERE client_id = $1 ORDER BY id"""
SERVICES_SQL = """
SELECT id, name, amount, billing_cycle, status, next_due_date
  FROM services WHERE client_id = $1 ORDER BY id"""
INVOICES_SQL = """
SELECT id, number, status, due_date, total, balance
  FROM invoices WHERE client_id = $1 ORDER BY id DESC"""


def _cursor(client_id: int) -> str:
    # The cursor the API makes for a client of `clients(orderBy: ID)`.
    return encode_cursor("clients/ID", Position(str(client_id), client_id))


def create_app() -> Starlette:
    database_url = os.environ["DATABASE_URL"]
    pool_min = int(os.environ.get("DB_POOL_MIN", "2"))
    pool_max = int(os.environ.get("DB_POOL_MAX", "10"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.pool = await create_pool(database_url, min_size=pool_min, max_size=pool_max)
        try:
            yield
        finally:
            await app.state.pool.close()

    async def clients(request: Request) -> Response:
        await request.body()  # the same request as the GraphQL endpoint receives, read in full
        async with request.app.state.pool.acquire() as conn:
            rows = await conn.fetch(PAGE_SQL, PAGE_SIZE + 1)
            page = rows[:PAGE_SIZE]
            ids = [row["id"] for row in page]
            email_rows = await conn.fetch(EMAILS_SQL, ids)
        emails: dict[int, list[dict[str, object]]] = {client_id: [] for client_id in ids}
        for row in email_rows:
            emails[row["client_id"]].append(
                {"subject": row["subject"], "sentAt": row["sent_at"].isoformat()}
            )
        edges = [
            {
                "cursor": _cursor(row["id"]),
                "node": {
                    "id": global_id("Client", row["id"]),
                    "firstName": row["first_name"],
                    "lastName": row["last_name"],
                    "companyName": row["company_name"],
                    "email": row["email"],
                    "displayName": f"{row['first_name']} {row['last_name']}",
                    "status": row["status"],
                    "currency": {
                        "code": row["currency"],
                        "prefix": row["prefix"],
                        "suffix": row["suffix"],
                    },
                    "address": {"city": row["city"], "country": row["country"]},
                    "creditBalance": str(row["credit_balance"]),
                    "emails": emails[row["id"]],
                },
            }
            for row in page
        ]
        data = {
            "clients": {
                "totalCount": rows[0]["total_count"] if rows else 0,
                "edges": edges,
                "pageInfo": {
                    "hasNextPage": len(rows) > PAGE_SIZE,
                    "endCursor": edges[-1]["cursor"] if edges else None,
                },
            }
        }
        return Response(orjson.dumps({"data": data}), media_type="application/json")

    async def client(request: Request) -> Response:
        body = orjson.loads(await request.body())
        client_id = decode_id(body["variables"]["id"], "Client")
        async with request.app.state.pool.acquire() as conn:
            row = await conn.fetchrow(CLIENT_SQL, client_id)
            contacts = await conn.fetch(CONTACTS_SQL, client_id)
            services = await conn.fetch(SERVICES_SQL, client_id)
            invoices = await conn.fetch(INVOICES_SQL, client_id)
        if row is None:
            return Response(orjson.dumps({"data": {"client": None}}))
        data = {
            "client": {
                "id": global_id("Client", row["id"]),
                "firstName": row["first_name"],
                "lastName": row["last_name"],
                "companyName": row["company_name"],
                "email": row["email"],
                "displayName": f"{row['first_name']} {row['last_name']}",
                "status": row["status"],
                "currency": {
                    "code": row["currency"],
                    "prefix": row["prefix"],
                    "suffix": row["suffix"],
                },
                "creditBalance": format_amount(row["credit_balance"]),
                "contacts": [
                    {
                        "id": global_id("Contact", c["id"]),
                        "firstName": c["first_name"],
                        "lastName": c["last_name"],
                        "email": c["email"],
                    }
                    for c in contacts
                ],
                "services": [
                    {
                        "id": global_id("Service", s["id"]),
                        "name": s["name"],
                        "amount": format_amount(s["amount"]),
                        "billingCycle": s["billing_cycle"],
                        "status": s["status"],
                        "nextDueDate": s["next_due_date"].isoformat()
                        if s["next_due_date"]
                        else None,
                    }
                    for s in services
                ],
                "invoices": [
                    {
                        "id": global_id("Invoice", i["id"]),
                        "number": i["number"],
                        "status": i["status"],
                        "dueDate": i["due_date"].isoformat(),
                        "total": format_amount(i["total"]),
                        "balance": format_amount(i["balance"]),
                    }
                    for i in invoices
                ],
            }
        }
        return Response(orjson.dumps({"data": data}), media_type="application/json")

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/raw", clients, methods=["GET", "POST"]),
            Route("/raw/client", client, methods=["POST"]),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )
