"""Scale-out with real processes (issue 19): three APIs and two workers behind nginx, over
PgBouncer in transaction pooling mode and one Redis. Every email goes once, the daily run
happens once, the login throttle, the API-key rate limit and files hold across the APIs, and
a SIGKILLed API loses no request it answered."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from datetime import date
from email.utils import parseaddr
from typing import Any

import asyncpg
import httpx
import pytest

from app.db import connect
from app.migrate import migrate
from domain.auth.permissions import StaffRole
from domain.auth.staff import create_staff
from schema.ids import global_id
from tests.app.cluster import (
    API_KEY_RATE_LIMIT,
    LOGIN_MAX_FAILURES,
    NGINX,
    PGBOUNCER,
    Cluster,
    cluster,
)
from tests.app.conftest import scratch_database
from tests.conftest import LOGIN, STAFF_PASSWORD, Services

pytestmark = [
    pytest.mark.skipif(not PGBOUNCER, reason="pgbouncer is not installed (.ci/run installs it)"),
    pytest.mark.skipif(not NGINX, reason="nginx is not installed (.ci/run installs it)"),
    # Five processes starting on a machine the parallel suite shares.
    pytest.mark.timeout(150),
]
ADMIN = "admin@staff.example.com"
CLIENTS = 240
KILL_AFTER = 80
ADD = """mutation($input: AddClientInput!) {
  addClient(input: $input) { client { id } errors { code field } } }"""
RUN = """mutation($asOf: Date) {
  runAutomation(asOf: $asOf) { run { asOf finishedAt } errors { code } } }"""
ROLE = "query { staffRoles { id name } }"
CREATE_KEY = """mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { secret errors { code } } }"""
UPLOAD = """mutation($clientId: ID!, $file: Upload!) {
  uploadClientFile(clientId: $clientId, file: $file, title: "Contract", adminOnly: false) {
    file { id } errors { code } } }"""


async def _setup(database_url: str) -> None:
    conn = await connect(database_url)
    try:
        await migrate(conn)
        name = await conn.fetchval("SELECT current_database()")
        # What asyncpg's startup parameter does without PgBouncer (docs/scale.md).
        await conn.execute(
            f"ALTER DATABASE \"{name}\" SET clientdesk.mail_domain = 'scale.example'"
        )
        await create_staff(
            conn,
            email=ADMIN,
            password=STAFF_PASSWORD,
            first_name="Sam",
            last_name="Staff",
            role=StaffRole.ADMIN,
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def running(services: Services) -> Iterator[tuple[Cluster, str]]:
    with scratch_database(services.database_url) as database_url:
        asyncio.run(_setup(database_url))
        with cluster(services, database_url) as started:
            yield started, database_url


async def _gql(
    http: httpx.AsyncClient, url: str, query: str, token: str | None = None, **variables: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await http.post(
        f"{url}/graphql", json={"query": query, "variables": variables}, headers=headers
    )


async def _login(http: httpx.AsyncClient, url: str, email: str, password: str) -> dict[str, Any]:
    response = await _gql(http, url, LOGIN, email=email, password=password)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["data"]["login"]
    return payload


async def _add_until_done(
    http: httpx.AsyncClient, proxy: str, token: str, n: int, figures: Counter[str]
) -> None:
    """addClient through nginx until it is done: a 502 or a lost connection is tried again;
    CONFLICT on the email then means the first attempt had been committed (the email is the
    natural key that makes addClient safe to repeat: it takes no idempotencyKey)."""
    variables = {"firstName": "Scale", "lastName": f"N{n}", "email": f"c{n}@scale.example"}
    for attempt in range(6):
        try:
            response = await _gql(http, proxy, ADD, token, input=variables)
        except httpx.TransportError:
            figures["transport errors"] += 1
            await asyncio.sleep(0.2)
            continue
        figures["requests"] += 1
        if response.status_code != 200:
            figures[f"HTTP {response.status_code}"] += 1
            await asyncio.sleep(0.2)
            continue
        payload = response.json()["data"]["addClient"]
        if payload["errors"]:
            assert attempt > 0 and payload["errors"][0]["code"] == "CONFLICT", payload
            figures["done by an unanswered attempt"] += 1
        else:
            figures["added"] += 1
        if attempt:
            figures["retried"] += 1
        return
    raise AssertionError(f"client {n} not added after 6 attempts")


async def _load_and_kill(running: Cluster, token: str, figures: Counter[str]) -> int:
    async with httpx.AsyncClient(timeout=30) as http:
        semaphore = asyncio.Semaphore(12)
        done = 0
        killed: list[int] = []

        async def one(n: int) -> None:
            nonlocal done
            async with semaphore:
                await _add_until_done(http, running.proxy_url, token, n, figures)
                done += 1
                if done == KILL_AFTER and not killed:
                    killed.append(running.kill_api(1))

        await asyncio.gather(*(one(n) for n in range(CLIENTS)))
        return killed[0]


def _ours(services: Services) -> list[str]:
    addresses = (parseaddr(str(m["To"]))[1] for m in services.mail.messages)
    return [a for a in addresses if a.endswith("@scale.example")]


async def _wait_for_emails(services: Services, expected: int) -> list[str]:
    for _ in range(150):
        if len(_ours(services)) >= expected:
            await asyncio.sleep(1.5)  # a duplicate would arrive meanwhile
            break
        await asyncio.sleep(0.2)
    return _ours(services)


async def test_three_apis_and_two_workers_behind_nginx_over_pgbouncer_and_one_redis(
    running: tuple[Cluster, str], services: Services
) -> None:
    processes, database_url = running
    services.mail.messages.clear()
    proxy, apis = processes.proxy_url, processes.api_urls
    figures: Counter[str] = Counter()
    async with httpx.AsyncClient(timeout=60) as http:
        token = (await _login(http, proxy, ADMIN, STAFF_PASSWORD))["token"]
        assert token

        # The daily run, asked for through every API at once while the workers' schedule
        # hands it over too: one run.
        today = date.today().isoformat()
        answers = await asyncio.gather(
            *(_gql(http, url, RUN, token, asOf=today) for url in apis * 2)
        )
        runs = [a.json()["data"]["runAutomation"] for a in answers]
        assert all(r["errors"] == [] and r["run"]["finishedAt"] for r in runs), runs
        assert len({r["run"]["finishedAt"] for r in runs}) == 1

        # The login throttle: failures spread over the three APIs lock at the same total.
        codes = []
        for n in range(LOGIN_MAX_FAILURES + 1):
            payload = await _login(http, apis[n % 3], ADMIN, "wrong-password")
            codes.append(payload["errors"][0]["code"])
        assert codes == ["INVALID_CREDENTIALS"] * LOGIN_MAX_FAILURES + ["TOO_MANY_ATTEMPTS"]

        # The API-key rate limit: requests spread over the three APIs, one budget.
        roles = (await _gql(http, proxy, ROLE, token)).json()["data"]["staffRoles"]
        support = next(r["id"] for r in roles if r["name"] == "SUPPORT")
        made = await _gql(http, proxy, CREATE_KEY, token, input={"name": "Load", "roleId": support})
        secret = made.json()["data"]["createApiKey"]["secret"]
        statuses = [
            (
                await _gql(http, apis[n % 3], "query { clients(first: 1) { totalCount } }", secret)
            ).status_code
            for n in range(API_KEY_RATE_LIMIT + 1)
        ]
        assert statuses == [200] * API_KEY_RATE_LIMIT + [429], statuses

    # Clients through nginx, one API SIGKILLed part-way.
    killed = await _load_and_kill(processes, token, figures)
    sent = await _wait_for_emails(services, CLIENTS)
    duplicates = sum(count - 1 for count in Counter(sent).values() if count > 1)

    conn = await asyncpg.connect(database_url)
    try:
        in_database = await conn.fetchval(
            "SELECT count(*) FROM clients WHERE email LIKE '%@scale.example'"
        )
        run_rows = await conn.fetchval("SELECT count(*) FROM automation_runs")
        client_id = await conn.fetchval("SELECT id FROM clients ORDER BY id LIMIT 1")
    finally:
        await conn.close()

    # A file uploaded through one API downloads through the others (the survivors).
    survivors = [url for i, url in enumerate(apis) if i != 1]
    content = b"%PDF-1.4 scale-out " * 2000
    async with httpx.AsyncClient(timeout=30) as http:
        operations = {
            "query": UPLOAD,
            "variables": {"clientId": global_id("Client", client_id), "file": None},
        }
        uploaded = await http.post(
            f"{survivors[0]}/graphql",
            data={
                "operations": json.dumps(operations),
                "map": json.dumps({"0": ["variables.file"]}),
            },
            files={"0": ("contract.pdf", content, "application/pdf")},
            headers={"Authorization": f"Bearer {token}", "X-CSRF-Protection": "1"},
        )
        file_id = uploaded.json()["data"]["uploadClientFile"]["file"]["id"]
        downloads = [
            await http.get(f"{url}/files/{file_id}", headers={"Authorization": f"Bearer {token}"})
            for url in [survivors[1], processes.proxy_url]
        ]

    print(
        f"\nscale-out: {figures['requests']} addClient requests for {CLIENTS} clients "
        f"({dict(figures)}); emails sent {len(sent)} / expected {CLIENTS} / duplicated "
        f"{duplicates}; automation runs {run_rows} from {len(runs)} asks; API process "
        f"{killed} SIGKILLed after {KILL_AFTER} clients: {CLIENTS - in_database} accepted "
        f"requests lost"
    )
    assert in_database == CLIENTS
    assert figures["added"] + figures["done by an unanswered attempt"] == CLIENTS
    assert sorted(sent) == sorted(f"c{n}@scale.example" for n in range(CLIENTS))
    assert duplicates == 0
    assert run_rows == 1
    assert [d.status_code for d in downloads] == [200, 200]
    assert all(d.content == content for d in downloads)
