"""Every staff list query at 10,000, 100,000 and 1,000,000 clients, in one growing database.

    python -m bench.scale                              # 10k, 100k, 1M clients
    python -m bench.scale --sizes 10000 30000 100000   # what `make bench` quick runs
    python -m bench.scale --keep                       # keep the database directory
    python -m bench.scale --sizes 1000000 --reuse DIR  # seed once into DIR, measure again

What it does (see bench/README.md for how to read the output):
1. starts a private PostgreSQL and Redis in a temporary directory, migrates and creates a
   staff login (ADMIN);
2. for each size, grows the database to it: seeds the clients (`app.seed.seed_clients`),
   gives the new ones services and unpaid invoices (`app.seed.seed_services_and_invoices`),
   a payment for every other invoice, an audit entry each and one failed email per hundred;
   then `VACUUM ANALYZE`;
3. times every list query staff can send, end to end over HTTP to one uvicorn process of the
   real app (`bench.clients_query`'s server and keep-alive client): the median of `--runs`
   after `--warmup`. The queries come from the committed SDL: every root field returning a
   connection (first 50, every scalar of the nodes and of the connection, such as
   `totalCount`), once more with `clientId` where it takes one, the client list's filters,
   and `client(id)` with every list of the client;
4. prints the latency of each query at each size, the client counts against the exact ones,
   and one target row per query at the largest size (goal ≤ 15 ms); stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import graphql
import httpx
import orjson
import psutil
from rich import box
from rich.console import Console
from rich.table import Table

from app import db
from app.devservices import start_postgres, start_redis, stop_postgres
from app.migrate import migrate
from app.seed import seed_clients_with_progress, seed_services_and_invoices
from bench.harness import (
    ROOT,
    STAFF_EMAIL,
    Server,
    create_bench_staff,
    db_cpu_seconds,
    event_loop_factory,
    login,
    postmaster_pid,
    sigterm_as_exit,
    start_server,
)
from bench.load import KeepAliveConnection
from bench.targets import Target, print_targets
from domain.totals import TOTAL_COUNT_CAP
from schema.ids import global_id

console = Console()

GOAL_MS = 15.0
SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 30_000, 100_000)
PAGE_SIZE = 50

# A payment for every other invoice of the clients with an id above `$1`.
TRANSACTIONS_SQL = """
INSERT INTO transactions (client_id, invoice_id, date, gateway, amount, currency, client_name)
SELECT i.client_id, i.id, i.created_at, 'banktransfer', 20.00, c.currency,
       c.first_name || ' ' || c.last_name
  FROM invoices i JOIN clients c ON c.id = i.client_id
 WHERE i.client_id > $1 AND i.id % 2 = 0"""

# An audit entry for each client with an id above `$1`.
AUDIT_SQL = """
INSERT INTO audit_log (action, client_id, changes)
SELECT 'client.update', id, '{"status": ["ACTIVE", "INACTIVE"]}' FROM clients WHERE id > $1"""

# One email given up on per hundred clients with an id above `$1`.
FAILED_EMAILS_SQL = """
INSERT INTO emails (client_id, template, category, to_address, subject, body, attempts,
                    last_error, failed_at)
SELECT id, 'client_signup', 'GENERAL', email::text, 'Welcome', 'Welcome.', 5,
       '550 mailbox unavailable', now()
  FROM clients WHERE id > $1 AND id % 100 = 0"""

# The client list's filters and orders; every other root connection is timed with its
# defaults (and with `clientId` when it takes one), whatever its name.
CLIENT_VARIANTS = (
    ("status: [CLOSED]", "status: [CLOSED]"),
    ("status: [ACTIVE, INACTIVE]", "status: [ACTIVE, INACTIVE]"),
    ("search: a surname", "search: $surname"),
    ("search: a rare fragment", "search: $fragment"),
    ("search: a whole email", "search: $email"),
    ("orderBy: NAME", "orderBy: {field: NAME}"),
    ("orderBy: CREATED_AT DESC", "orderBy: {field: CREATED_AT, direction: DESC}"),
)
VARIABLE_TYPES = {
    "clientId": "ID!",
    "surname": "String!",
    "fragment": "String!",
    "email": "String!",
}


@dataclass(frozen=True)
class ListQuery:
    name: str
    document: str

    def variables(self, values: dict[str, Any]) -> dict[str, Any]:
        return {name: value for name, value in values.items() if f"${name}" in self.document}


def _named_type(type_: graphql.GraphQLOutputType) -> graphql.GraphQLNamedType:
    return graphql.get_named_type(type_)


def _is_list(type_: graphql.GraphQLOutputType) -> bool:
    return isinstance(graphql.get_nullable_type(type_), graphql.GraphQLList)


def _scalars(type_: graphql.GraphQLObjectType) -> str:
    """Every scalar or enum field of `type_` that needs no argument."""
    return " ".join(
        name
        for name, field in type_.fields.items()
        if isinstance(_named_type(field.type), graphql.GraphQLScalarType | graphql.GraphQLEnumType)
        and not any(graphql.is_required_argument(a) for a in field.args.values())
    )


def _document(name: str, field: str, arguments: str, selection: str) -> str:
    used = [v for v in VARIABLE_TYPES if f"${v}" in arguments]
    declared = f"({', '.join(f'${v}: {VARIABLE_TYPES[v]}' for v in used)})" if used else ""
    return f"query {name}{declared} {{ {field}({arguments}) {{ {selection} }} }}"


def list_queries(sdl: str) -> list[ListQuery]:
    """The staff list queries of the schema: every root connection, with its variants, and
    the client with each of its lists."""
    schema = graphql.build_schema(sdl)
    query_type = schema.query_type
    assert query_type is not None
    queries = []
    for field_name, field in query_type.fields.items():
        connection = _named_type(field.type)
        if not (isinstance(connection, graphql.GraphQLObjectType) and "edges" in connection.fields):
            continue
        edge = _named_type(connection.fields["edges"].type)
        assert isinstance(edge, graphql.GraphQLObjectType)
        node = _named_type(edge.fields["node"].type)
        assert isinstance(node, graphql.GraphQLObjectType)
        selection = (
            f"{_scalars(connection)} edges {{ cursor node {{ {_scalars(node)} }} }} "
            "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
        )
        variants = [(field_name, "")]
        if "clientId" in field.args:
            variants.append((f"{field_name}(clientId)", "clientId: $clientId"))
        if field_name == "clients":
            variants += [(f"clients({label})", arguments) for label, arguments in CLIENT_VARIANTS]
        for label, arguments in variants:
            args = ", ".join(a for a in (f"first: {PAGE_SIZE}", arguments) if a)
            name = "".join(ch for ch in label.title() if ch.isalnum())
            queries.append(ListQuery(label, _document(name, field_name, args, selection)))
    client = schema.get_type("Client")
    assert isinstance(client, graphql.GraphQLObjectType)
    lists = " ".join(
        f"{name} {{ {_scalars(item)} }}"
        for name, field in client.fields.items()
        if _is_list(field.type)
        and isinstance(item := _named_type(field.type), graphql.GraphQLObjectType)
    )
    queries.append(
        ListQuery(
            "client(id) with its lists",
            f"query Client($clientId: ID!) {{ client(id: $clientId) {{ id {lists} }} }}",
        )
    )
    return queries


# --------------------------------------------------------------------------- the data


async def grow(conn: asyncpg.Connection, size: int) -> float:
    """Add clients (and their data) until there are `size`; the seconds it took. A database
    kept by `--reuse` may hold them already; one holding more cannot be measured at `size`."""
    started = time.perf_counter()
    have = await conn.fetchval("SELECT coalesce(max(id), 0) FROM clients")
    count = size - await conn.fetchval("SELECT count(*) FROM clients")
    if count < 0:
        raise RuntimeError(f"The database holds {size - count:,} clients, more than {size:,}.")
    if count == 0:
        console.print(f"Reusing {size:,} clients.")
        return 0.0
    # Each growth step its own random seed: the seed's email addresses differ per seed.
    await seed_clients_with_progress(conn, count, console=console, seed=size)
    billing = await seed_services_and_invoices(
        conn, due=count // 10, invoices=count, as_of=date.today(), after_client_id=have
    )
    for sql in (TRANSACTIONS_SQL, AUDIT_SQL, FAILED_EMAILS_SQL):
        await conn.execute(sql, have)
    console.print(
        f"Grew to {size:,} clients (+{billing.services:,} services, "
        f"+{billing.invoices:,} invoices) in {time.perf_counter() - started:.0f} s; "
        "VACUUM ANALYZE …"
    )
    await conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


async def sample_values(conn: asyncpg.Connection) -> dict[str, Any]:
    """Arguments for the variants: a client in the middle with a payment, a surname, a
    fragment of few addresses and a whole address."""
    size = await conn.fetchval("SELECT max(id) FROM clients")
    row = await conn.fetchrow(
        """SELECT c.id, c.last_name, c.email::text FROM clients c
            WHERE c.id >= $1 AND EXISTS (SELECT 1 FROM transactions t WHERE t.client_id = c.id)
            ORDER BY c.id LIMIT 1""",
        size // 2,
    )
    local = row["email"].split("@")[0]
    return {
        "clientId": global_id("Client", row["id"]),
        "surname": row["last_name"].lower(),
        # The run tag and first digits of the serial (first.last.<tag><serial>@…).
        "fragment": local.rsplit(".", 1)[-1][:8],
        "email": row["email"].upper(),
    }


async def exact_counts(conn: asyncpg.Connection, values: dict[str, Any]) -> dict[str, int]:
    """The true number of clients each counted variant matches, to compare the totals with."""
    like = f"%{values['surname']}%"
    fragment = f"%{values['fragment']}%"
    counts = await conn.fetchrow(
        """SELECT count(*) AS all_,
                  count(*) FILTER (WHERE status = 'CLOSED') AS closed,
                  count(*) FILTER (WHERE status IN ('ACTIVE', 'INACTIVE')) AS open_,
                  count(*) FILTER (WHERE search_text LIKE $1) AS surname,
                  count(*) FILTER (WHERE search_text LIKE $2) AS fragment
             FROM clients""",
        like,
        fragment,
    )
    return {
        "clients": counts["all_"],
        "clients(status: [CLOSED])": counts["closed"],
        "clients(status: [ACTIVE, INACTIVE])": counts["open_"],
        "clients(search: a surname)": counts["surname"],
        "clients(search: a rare fragment)": counts["fragment"],
        "clients(search: a whole email)": 1,
        "clients(orderBy: NAME)": counts["all_"],
        "clients(orderBy: CREATED_AT DESC)": counts["all_"],
    }


# --------------------------------------------------------------------------- timing


@dataclass
class Measured:
    milliseconds: float  # median latency, end to end
    # Mean CPU per request of the uvicorn process and of PostgreSQL (server and backends):
    # the kernel counts CPU in ticks of 10 ms, so one request's figure is 0 or 10.
    app_cpu_ms: float
    db_cpu_ms: float
    total: int | None = None
    estimate: bool | None = None


@dataclass
class Timed:
    """A query ready to send again and again, and what each send cost."""

    query: ListQuery
    connection: KeepAliveConnection
    answer: dict[str, Any]
    latencies: list[float]
    app_cpu: list[float]
    db_cpu: list[float]

    def measured(self) -> Measured:
        data = next(iter(self.answer["data"].values()))
        return Measured(
            statistics.median(self.latencies) * 1000,
            statistics.mean(self.app_cpu) * 1000,
            statistics.mean(self.db_cpu) * 1000,
            data.get("totalCount"),
            data.get("totalCountIsEstimate"),
        )


async def _ready(server: Server, token: str, query: ListQuery, values: dict[str, Any]) -> Timed:
    """Send `query` once (it must answer without errors) and open its own connection."""
    body = orjson.dumps({"query": query.document, "variables": query.variables(values)})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(server.url, content=body, headers=headers)
    answer = response.json()
    if response.status_code != 200 or answer.get("errors"):
        raise RuntimeError(f"{query.name}: {response.status_code} {answer}")
    request = KeepAliveConnection.encode_request(server, body, headers)
    connection = KeepAliveConnection(server, request, len(response.content))
    return Timed(query, connection, answer, [], [], [])


async def time_queries(
    server: Server,
    postmaster: psutil.Process | None,
    token: str,
    queries: list[ListQuery],
    values: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Measured]:
    """Each query's median latency and CPU, one request at a time over its own keep-alive
    connection, in interleaved rounds (every query once per round) so that the neighbours'
    bursts on a shared machine spread over all queries alike."""
    timed = [await _ready(server, token, query, values) for query in queries]
    clock = time.perf_counter
    try:
        for round_ in range(args.warmup + args.runs):
            for t in timed:
                app, database, started = server.cpu_seconds(), db_cpu_seconds(postmaster), clock()
                if not await t.connection.send():
                    raise RuntimeError(f"{t.query.name}: an answer differed from the first")
                if round_ >= args.warmup:
                    t.latencies.append(clock() - started)
                    t.app_cpu.append(server.cpu_seconds() - app)
                    t.db_cpu.append(db_cpu_seconds(postmaster) - database)
    finally:
        for t in timed:
            await t.connection.close()
    return {t.query.name: t.measured() for t in timed}


@dataclass
class Results:
    sizes: list[int]
    # query name → size → measurement
    latencies: dict[str, dict[int, Measured]]
    exact: dict[int, dict[str, int]]
    load: dict[int, float]


async def measure_size(
    server: Server,
    postmaster: psutil.Process | None,
    database_url: str,
    queries: list[ListQuery],
    results: Results,
    size: int,
    args: argparse.Namespace,
) -> None:
    conn = await db.connect(database_url)
    try:
        values = await sample_values(conn)
        results.exact[size] = await exact_counts(conn, values)
    finally:
        await conn.close()
    token = await login(server)
    measured = await time_queries(server, postmaster, token, queries, values, args)
    for name, figures in measured.items():
        results.latencies.setdefault(name, {})[size] = figures
    results.load[size] = os.getloadavg()[0]


def app_env(database_url: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ENVIRONMENT": "production",
        "PYTHONPATH": str(ROOT),
    }


def run(args: argparse.Namespace, stack: contextlib.ExitStack, tmp: Path) -> Results:
    console.print(f"Starting PostgreSQL and Redis in {tmp} …")
    pg_dir = tmp / "postgres"
    stack.callback(stop_postgres, pg_dir)
    database_url = start_postgres(pg_dir)
    redis = start_redis(tmp / "redis")
    stack.callback(redis.stop)
    queries = list_queries((ROOT / "schema.graphql").read_text())
    results = Results(list(args.sizes), {}, {}, {})

    async def prepare() -> None:
        conn = await db.connect(database_url)
        try:
            await migrate(conn)
            # A database kept by `--reuse` has its staff login from the first run.
            if not await conn.fetchval("SELECT 1 FROM logins WHERE email = $1", STAFF_EMAIL):
                await create_bench_staff(conn)
        finally:
            await conn.close()

    async def grow_to(size: int) -> None:
        conn = await db.connect(database_url)
        try:
            await grow(conn, size)
        finally:
            await conn.close()

    asyncio.run(prepare())
    server = start_server(
        "graphql", "app.main:create_app_from_env", "/graphql", app_env(database_url, redis.url), tmp
    )
    stack.callback(server.stop)
    pid = postmaster_pid(pg_dir)
    postmaster = psutil.Process(pid) if pid else None
    for size in args.sizes:
        asyncio.run(grow_to(size))
        console.print(f"Timing {len(queries)} list queries at {size:,} clients …")
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(measure_size(server, postmaster, database_url, queries, results, size, args))
    return results


# --------------------------------------------------------------------------- reporting


def _ms(measured: Measured | None) -> str:
    return "–" if measured is None else f"{measured.milliseconds:.1f}"


def _cpu(measured: Measured) -> str:
    return f"CPU {measured.app_cpu_ms:.1f} + {measured.db_cpu_ms:.1f} ms"


def report(results: Results) -> None:
    table = Table(
        title=f"Staff list queries, median ms end to end (first: {PAGE_SIZE})",
        caption="load average while timing: "
        + ", ".join(f"{results.load[s]:.1f} at {s:,}" for s in results.sizes),
        box=box.SIMPLE_HEAD,
    )
    table.add_column("query")
    for size in results.sizes:
        table.add_column(f"{size:,}", justify="right")
    for name, by_size in results.latencies.items():
        cells = []
        for size in results.sizes:
            cell = _ms(by_size.get(size))
            slow = size == results.sizes[-1] and by_size[size].milliseconds > GOAL_MS
            cells.append(f"[red]{cell}[/]" if slow else cell)
        table.add_row(name, *cells)
    console.print(table)

    cpu = Table(
        title="CPU per request, mean ms: uvicorn process + PostgreSQL (the stable figures)",
        box=box.SIMPLE_HEAD,
    )
    cpu.add_column("query")
    for size in results.sizes:
        cpu.add_column(f"{size:,}", justify="right")
    for name, by_size in results.latencies.items():
        cpu.add_row(
            name,
            *(f"{by_size[s].app_cpu_ms:.1f} + {by_size[s].db_cpu_ms:.1f}" for s in results.sizes),
        )
    console.print(cpu)

    counts = Table(
        title=f"clients totalCount (exact up to {TOTAL_COUNT_CAP:,}) against the exact count",
        box=box.SIMPLE_HEAD,
    )
    counts.add_column("query")
    for size in results.sizes:
        counts.add_column(f"{size:,}", justify="right")
    for name in results.exact[results.sizes[0]]:
        cells = []
        for size in results.sizes:
            measured, exact = results.latencies[name][size], results.exact[size][name]
            if measured.total is None:
                cells.append("–")
                continue
            error = (measured.total - exact) / exact * 100 if exact else 0.0
            kind = f"estimate, {error:+.0f}%" if measured.estimate else "exact"
            cells.append(f"{measured.total:,} / {exact:,} ({kind})")
        counts.add_row(name, *cells)
    console.print(counts)


def targets_of(results: Results) -> list[Target]:
    first, last = results.sizes[0], results.sizes[-1]
    return [
        Target(
            name=f"{name} at {last:,} clients",
            goal=f"≤ {GOAL_MS:g} ms",
            baseline=f"{_ms(by_size[first])} ms at {first:,} ({_cpu(by_size[first])})",
            measured=f"{_ms(by_size[last])} ms ({_cpu(by_size[last])})",
            met=by_size[last].milliseconds <= GOAL_MS,
        )
        for name, by_size in results.latencies.items()
    ]


def bench(args: argparse.Namespace) -> Results:
    if args.reuse:
        args.reuse.mkdir(parents=True, exist_ok=True)
        with sigterm_as_exit(), contextlib.ExitStack() as stack:
            return run(args, stack, args.reuse.resolve())
    tmp = Path(tempfile.mkdtemp(prefix="clientdesk-bench-scale-"))
    if not args.keep:
        # Also at exit, after the embedded PostgreSQL's own exit hook, which touches files in
        # the directory (as bench.clients_query does).
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    try:
        with sigterm_as_exit(), contextlib.ExitStack() as stack:
            return run(args, stack, tmp)
    finally:
        if args.keep:
            console.print(f"Kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def targets(quick: bool) -> list[Target]:
    """One row per staff list query at the largest size (1,000,000; 100,000 when `quick`),
    against the same query at 10,000 clients in the same run."""
    args = parse_args(["--sizes", *map(str, QUICK_SIZES if quick else SIZES)])
    return targets_of(bench(args))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(SIZES), help="client counts, growing"
    )
    parser.add_argument("--runs", type=int, default=21, help="timed rounds (each query once)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--reuse",
        type=Path,
        metavar="DIR",
        help="keep the database in DIR: the first run seeds it, later runs measure it as it is "
        "(sizes below what it holds are refused)",
    )
    args = parser.parse_args(argv)
    if args.sizes != sorted(args.sizes):
        parser.error("--sizes must grow")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results = bench(args)
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted; stopped the servers.[/]")
        return 130
    except RuntimeError as error:
        console.print(f"[red]{error}[/]")
        return 1
    report(results)
    rows = targets_of(results)
    print_targets(rows, console)
    return 0 if all(t.met for t in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
