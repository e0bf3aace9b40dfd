"""PostGraphile 4 beside our endpoint (issue 24): what a hosting company could run instead of
clientdesk's API over the same PostgreSQL, serving the same rows.

PostGraphile reads a schema's tables and foreign keys and serves them as GraphQL. Ours has
what it cannot show as our API does (the display name, sent emails only, a currency's
prefix), so it serves a schema of its own, `postgraphile`, of plain views over our tables:
no copy of the rows, the same indexes, and smart comments naming the keys PostGraphile
cannot see on a view. The benchmark checks that both answers carry the same data
(`same_clients_page`) before it measures anything.

It is installed with npm into var/postgraphile once (`postgraphile@4`, ~6 s); without npm
or Node the benchmarks say so in one line and measure the others.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from app.devservices import free_port
from bench.harness import ROOT, Server, console, set_parent_death_signal

INSTALL_DIR = ROOT / "var" / "postgraphile"
VERSION = "postgraphile@4"
SCHEMA = "postgraphile"

VIEWS_SQL = f"""
DROP SCHEMA IF EXISTS {SCHEMA} CASCADE;
CREATE SCHEMA {SCHEMA};
CREATE VIEW {SCHEMA}.currencies AS SELECT code::text AS code, prefix, suffix FROM currencies;
COMMENT ON VIEW {SCHEMA}.currencies IS E'@primaryKey code';
CREATE VIEW {SCHEMA}.clients AS
SELECT id, first_name, last_name, company_name, email::text AS email,
       first_name || ' ' || last_name AS display_name, status, currency::text AS currency,
       city, country::text AS country, credit_balance
  FROM clients;
COMMENT ON VIEW {SCHEMA}.clients IS
  E'@primaryKey id\\n@foreignKey (currency) references {SCHEMA}.currencies (code)';
CREATE VIEW {SCHEMA}.sent_emails AS
SELECT id, client_id, subject, sent_at FROM emails WHERE sent_at IS NOT NULL;
COMMENT ON VIEW {SCHEMA}.sent_emails IS
  E'@primaryKey id\\n@foreignKey (client_id) references {SCHEMA}.clients (id)';
CREATE VIEW {SCHEMA}.contacts AS
SELECT id, client_id, first_name, last_name, email::text AS email FROM contacts;
COMMENT ON VIEW {SCHEMA}.contacts IS
  E'@primaryKey id\\n@foreignKey (client_id) references {SCHEMA}.clients (id)';
CREATE VIEW {SCHEMA}.services AS
SELECT id, client_id, name, amount, billing_cycle, status, next_due_date FROM services;
COMMENT ON VIEW {SCHEMA}.services IS
  E'@primaryKey id\\n@foreignKey (client_id) references {SCHEMA}.clients (id)';
CREATE VIEW {SCHEMA}.invoices AS
SELECT id, client_id, number, status, due_date, total, balance FROM invoices;
COMMENT ON VIEW {SCHEMA}.invoices IS
  E'@primaryKey id\\n@foreignKey (client_id) references {SCHEMA}.clients (id)';
"""

# Our `clients(first: 50)` page, field for field (bench.clients_query.QUERY).
CLIENTS_QUERY = """query Clients {
  allClients(first: 50, orderBy: PRIMARY_KEY_ASC) {
    totalCount
    edges {
      cursor
      node {
        id firstName lastName companyName email displayName status
        currencyByCurrency { code prefix suffix }
        city country
        creditBalance
        sentEmailsByClientId(orderBy: SENT_AT_DESC) { nodes { subject sentAt } }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}"""

# Our `client(id)` with its contacts, services and invoices (bench.client_detail.QUERY).
CLIENT_QUERY = """query Client($id: BigInt!) {
  clientById(id: $id) {
    id firstName lastName companyName email displayName status
    currencyByCurrency { code prefix suffix }
    creditBalance
    contactsByClientId(orderBy: PRIMARY_KEY_ASC) { nodes { id firstName lastName email } }
    servicesByClientId(orderBy: PRIMARY_KEY_ASC) {
      nodes { id name amount billingCycle status nextDueDate }
    }
    invoicesByClientId(orderBy: PRIMARY_KEY_DESC) {
      nodes { id number status dueDate total balance }
    }
  }
}"""


def installed() -> Path | None:
    """The postgraphile command, installed into var/ on first use; None (said once) when
    npm is missing or the install fails."""
    command = INSTALL_DIR / "node_modules" / ".bin" / "postgraphile"
    if command.exists():
        return command
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        console.print("[yellow]PostGraphile skipped: npm and Node are not on PATH.[/]")
        return None
    console.print(f"Installing {VERSION} into {INSTALL_DIR} with npm …")
    INSTALL_DIR.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(  # noqa: S603
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(INSTALL_DIR), VERSION],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not command.exists():
        console.print(f"[yellow]PostGraphile skipped: npm install failed:[/] {done.stderr[-500:]}")
        return None
    return command


def _node_url(database_url: str) -> str:
    """The embedded PostgreSQL's URL as node-postgres takes it (a socket directory as host)."""
    parts = urlsplit(database_url)
    socket = parse_qs(parts.query).get("host", [""])[0]
    user = parts.username or "postgres"
    if socket:
        return f"socket:{socket}?db={parts.path.lstrip('/')}&user={user}"
    return database_url


def start(command: Path, database_url: str, logs: Path, pool_size: int) -> Server:
    """PostGraphile serving the views, as its documentation advises for production (no
    GraphiQL, no query log, NODE_ENV=production); ready when it answers a query."""
    port = free_port()
    log_path = logs / "postgraphile.log"
    env = {**os.environ, "NODE_ENV": "production"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            [
                str(command),
                "--connection",
                _node_url(database_url),
                "--schema",
                SCHEMA,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--disable-query-log",
                "--max-pool-size",
                str(pool_size),
                "--simple-collections",
                "omit",
                "--disable-default-mutations",
                "--no-ignore-rbac",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=set_parent_death_signal,
        )
    server = Server("postgraphile", process, f"http://127.0.0.1:{port}", "/graphql", log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            answer = httpx.post(server.url, json={"query": "{ __typename }"}, timeout=2)
            if answer.status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"PostGraphile did not start:\n{log_path.read_text()[-3000:]}")


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _client(node: dict[str, Any], currency: Any, city: Any, country: Any) -> tuple[Any, ...]:
    names = ("firstName", "lastName", "companyName", "email", "displayName", "status")
    return (*(node[k] for k in names), currency, city, country, node["creditBalance"])


def our_clients_page(data: dict[str, Any]) -> dict[str, Any]:
    """Our `clients` page in the one spelling both pages are compared in."""
    page = data["clients"]
    return {
        "totalCount": page["totalCount"],
        "hasNextPage": page["pageInfo"]["hasNextPage"],
        "clients": [
            [
                _client(n, n["currency"], n["address"]["city"], n["address"]["country"]),
                [(e["subject"], _instant(e["sentAt"])) for e in n["emails"]],
            ]
            for n in (edge["node"] for edge in page["edges"])
        ],
    }


def their_clients_page(data: dict[str, Any]) -> dict[str, Any]:
    """PostGraphile's `allClients` page in the same spelling."""
    page = data["allClients"]
    return {
        "totalCount": page["totalCount"],
        "hasNextPage": page["pageInfo"]["hasNextPage"],
        "clients": [
            [
                _client(n, n["currencyByCurrency"], n["city"], n["country"]),
                [(e["subject"], _instant(e["sentAt"])) for e in n["sentEmailsByClientId"]["nodes"]],
            ]
            for n in (edge["node"] for edge in page["edges"])
        ],
    }


def _detail(client: dict[str, Any], currency: Any, lists: tuple[Any, Any, Any]) -> dict[str, Any]:
    names = ("firstName", "lastName", "companyName", "email", "displayName", "status")
    contacts, services, invoices = lists
    return {
        "client": [*(client[k] for k in names), currency, client["creditBalance"]],
        "contacts": [[c["firstName"], c["lastName"], c["email"]] for c in contacts],
        "services": [
            [s["name"], s["amount"], s["billingCycle"], s["status"], s["nextDueDate"]]
            for s in services
        ],
        "invoices": [
            [str(i["number"]), i["status"], i["dueDate"], i["total"], i["balance"]]
            for i in invoices
        ],
    }


def our_client(data: dict[str, Any]) -> dict[str, Any]:
    """Our `client(id)` with its lists in the one spelling both are compared in."""
    client = data["client"]
    lists = (client["contacts"], client["services"], client["invoices"])
    return _detail(client, client["currency"], lists)


def their_client(data: dict[str, Any]) -> dict[str, Any]:
    """PostGraphile's `clientById` in the same spelling."""
    client = data["clientById"]
    contacts, services, invoices = (
        client[f"{name}ByClientId"]["nodes"] for name in ("contacts", "services", "invoices")
    )
    lists = (contacts, services, invoices)
    return _detail(client, client["currencyByCurrency"], lists)
