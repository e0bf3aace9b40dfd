"""Real PostgreSQL, Redis and SMTP for the whole suite, started once per test session.

Each test starts from empty tables (the migrations' reference data stays), an empty Redis and
an empty mailbox.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from app import db, web
from app.devservices import MailSink, start_postgres, start_redis, stop_postgres
from app.migrate import migrate
from app.settings import Settings
from app.web import create_app
from app.worker import build_worker
from domain.auth import two_factor
from domain.auth.permissions import StaffRole
from domain.auth.staff import create_staff
from domain.billing import payments
from domain.billing.payments import Payment
from domain.cards.crypto import CardKeyring
from domain.clients import services as client_services
from domain.clients.models import Client
from domain.totals import TOTAL_COUNT_CAP
from schema.ids import decode_id, global_id
from tests.table_reset import TableReset

# The localstripe server and the app configured for it (Stripe's tests).
pytest_plugins = ["tests.stripe_fixtures"]

# The folders whose tests start processes of their own (servers, workers, `clientdesk dev`,
# a whole installation) and wait for them: the longest files of the suite, longest first.
PROCESS_FOLDERS = ("faults", "app")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files that start processes first. `make test` hands out whole files (--dist
    loadfile, so that a module's processes start once); a long file handed out last would
    keep one worker busy after the others have finished."""
    order = {folder: n for n, folder in enumerate(PROCESS_FOLDERS)}
    items.sort(key=lambda item: order.get(item.path.parent.name, len(order)))


# Tables that tests fill; the reference data of the migrations (currencies, gateways) stays.
TEST_TABLES = (
    "audit_log, emails, sessions, clients, staff, logins, settings, credit_log, idempotency_keys, "
    "password_tokens, password_reset_requests, "
    "orders, services, addons, domains, invoices, invoice_items, transactions, tax_rules, "
    "automation_runs, api_keys, file_chunks, events, gateway_events, products, product_groups, "
    "ticket_departments"
)
STAFF_PASSWORD = "staff-password-1"
# A fixed card key for the suite (version 1); tests of rotation add their own.
CARD_KEY = "1:" + "k" * 43
TEST_KEYRING = CardKeyring.parse(CARD_KEY)


@dataclass(frozen=True)
class Services:
    database_url: str
    redis_url: str
    mail: MailSink


async def _skip_durability(database_url: str) -> None:
    """A throwaway test database need not survive a crash: commits and the final checkpoint
    skip the disk flushes that otherwise take most of the suite's database time."""
    conn = await asyncpg.connect(database_url)
    try:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            await conn.execute(f"ALTER SYSTEM SET {setting} = off")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    root = tmp_path_factory.mktemp("services")
    database_url = start_postgres(root / "postgres")
    asyncio.run(_skip_durability(database_url))
    redis = start_redis(root / "redis")
    mail = MailSink().start()
    try:
        yield Services(database_url, redis.url, mail)
    finally:
        mail.stop()
        redis.stop()
        stop_postgres(root / "postgres", throwaway=True)


@pytest.fixture(scope="session")
def settings(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        _env_file=None,
        database_url=services.database_url,
        redis_url=services.redis_url,
        smtp_url=services.mail.url,
        environment="development",
        cc_encryption_hash="test-card-secret",
        card_encryption_keys=CARD_KEY,
        attachments_dir=tmp_path_factory.mktemp("attachments"),
        login_max_failures=5,
        automation_schedule=False,  # runs only when a test asks, not at 09:00 in any test
        automation_wait_seconds=0.05,  # no worker runs beside most tests: answer at once
    )


# The payment gateways as the suite set them up (`pool`): tests rename them and turn them
# off, and each test starts with them as they were.
GATEWAYS_AS_SET_UP: list[asyncpg.Record] = []
# How `clean_state` empties TEST_TABLES (`pool` builds it).
RESET: list[TableReset] = []


@pytest.fixture(scope="session")
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    conn = await db.connect(settings.database_url)
    await migrate(conn)
    # The suite pays with the test card gateway, which installations start without.
    await conn.execute("UPDATE payment_gateways SET enabled = true WHERE name = 'testcard'")
    GATEWAYS_AS_SET_UP[:] = await conn.fetch(
        "SELECT name, display_name, enabled FROM payment_gateways"
    )
    RESET[:] = [await TableReset.build(conn, TEST_TABLES)]
    await conn.close()
    pool = await db.create_pool(settings.database_url, min_size=1, max_size=10)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 server on loopback (moto's server mode), for the S3 store of files."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_settings(settings: Settings, s3_endpoint: str) -> Settings:
    """The settings with FILE_STORAGE=s3 on a new, empty bucket of the loopback server."""
    from botocore.session import get_session

    configured = settings.model_copy(
        update={
            "file_storage": "s3",
            "s3_bucket": f"files-{uuid.uuid4().hex[:12]}",
            "s3_prefix": "clientdesk/",
            "s3_endpoint_url": s3_endpoint,
            "s3_access_key_id": "test",
            "s3_secret_access_key": "test",
        }
    )
    client = get_session().create_client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=configured.s3_region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket=configured.s3_bucket)
    client.close()
    return configured


@pytest.fixture(autouse=True)
async def clean_state(request: pytest.FixtureRequest, services: Services) -> AsyncIterator[None]:
    """Empty tables, Redis and mailbox before each test that uses the database."""
    if "pool" in request.fixturenames:
        pool: asyncpg.Pool = request.getfixturevalue("pool")
        await RESET[0].run(pool)
        # The built-in roles' rows come with the migrations and stay (SPEC 11.1).
        await pool.execute("DELETE FROM staff_roles WHERE NOT built_in")
        gateways = GATEWAYS_AS_SET_UP
        await pool.execute(
            """UPDATE payment_gateways g SET display_name = r.display_name, enabled = r.enabled
                 FROM unnest($1::text[], $2::text[], $3::bool[]) AS r (name, display_name, enabled)
                WHERE g.name = r.name""",
            [g["name"] for g in gateways],
            [g["display_name"] for g in gateways],
            [g["enabled"] for g in gateways],
        )
        redis = Redis.from_url(services.redis_url)
        await redis.flushdb()
        await redis.aclose()
    services.mail.messages.clear()
    yield


@pytest.fixture
async def conn(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as connection:
        yield connection


@pytest.fixture
async def many_clients(conn: asyncpg.Connection) -> int:
    """More clients than a total counts exactly (`domain.totals.TOTAL_COUNT_CAP` + 500), set-
    wise and analysed: every tenth CLOSED, every third named Smith (the others Jones<n>), and
    one address inside another (joe@shop.example inside bigjoe@shop.example)."""
    many = TOTAL_COUNT_CAP + 500
    await conn.execute(
        """WITH people AS (
               SELECT n, CASE WHEN n = 1 THEN 'joe@shop.example'
                              WHEN n = 2 THEN 'bigjoe@shop.example'
                              ELSE 'client' || n || '@mail.example' END AS email,
                      CASE WHEN n % 3 = 0 THEN 'Smith' ELSE 'Jones' || n END AS last_name,
                      CASE WHEN n % 10 = 0 THEN 'CLOSED' ELSE 'ACTIVE' END AS status
                 FROM generate_series(1, $1) AS n
           ), new_logins AS (
               INSERT INTO logins (email) SELECT email FROM people RETURNING id, email
           )
           INSERT INTO clients (owner_login_id, email, first_name, last_name, currency, status)
           SELECT l.id, p.email, 'Pat', p.last_name, 'EUR', p.status
             FROM people p JOIN new_logins l ON l.email = p.email""",
        many,
    )
    await conn.execute("ANALYZE clients")
    return many


@pytest.fixture
async def api(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the real ASGI app, with its lifespan (pools) running."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@dataclass
class CountedApi:
    api: httpx.AsyncClient
    statements: list[str]
    last_body: dict[str, Any] = field(default_factory=dict)

    async def count(self, document: str, variables: dict[str, Any], token: str) -> int:
        """How many statements the app's pool sent to PostgreSQL for this one request."""
        await asyncio.sleep(0)  # loggers run soon after the statement: let earlier ones land
        self.statements.clear()
        body = await gql(self.api, document, variables, token=token)
        await asyncio.sleep(0)
        self.last_body = body
        return len(self.statements)


@pytest.fixture
async def counted_api(
    settings: Settings, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[CountedApi]:
    """The real app (its own pool, as configured) whose connections log every statement
    they send to PostgreSQL."""
    statements: list[str] = []
    app_init = db._init_connection

    async def init(conn: asyncpg.Connection) -> None:
        await app_init(conn)  # the app's own setup (type codecs), not counted
        conn.add_query_logger(lambda record: statements.append(record.query))

    monkeypatch.setattr(db, "_init_connection", init)
    app = web.create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield CountedApi(client, statements)


def gid(type_name: str, pk: int) -> str:
    """The API's id of row `pk` of GraphQL type `type_name`, as clients receive it."""
    return str(global_id(type_name, pk))


def pk(value: str, type_name: str) -> int:
    """The row id behind an API id of `type_name`, to look the row up in SQL."""
    row_id = decode_id(value, type_name)
    assert row_id is not None, f"{value!r} is not an id of a {type_name}"
    return row_id


class GraphQLError(AssertionError):
    pass


async def gql(
    api: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    allow_errors: bool = False,
) -> dict[str, Any]:
    """POST a GraphQL operation; return the whole response body.

    Unless `allow_errors`, a response with top-level errors fails the test with them.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await api.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    if not allow_errors and body.get("errors"):
        raise GraphQLError(body["errors"])
    return body


LOGIN = """
mutation Login($email: String!, $password: String!, $totpCode: String) {
  login(email: $email, password: $password, totpCode: $totpCode) {
    token viewer { kind email clientId staffRole } errors { field code message }
  }
}"""


async def login(api: httpx.AsyncClient, email: str, password: str) -> str:
    body = await gql(api, LOGIN, {"email": email, "password": password})
    payload = body["data"]["login"]
    assert payload["errors"] == [], payload["errors"]
    token: str = payload["token"]
    return token


@pytest.fixture
async def make_staff(conn: asyncpg.Connection, api: httpx.AsyncClient) -> Any:
    """Create a staff member with a role and return a logged-in token."""

    async def make(role: StaffRole = StaffRole.ADMIN, email: str | None = None) -> str:
        email = email or f"{role.value.lower()}@staff.example.com"
        await create_staff(
            conn,
            email=email,
            password=STAFF_PASSWORD,
            first_name="Sam",
            last_name="Staff",
            role=role,
        )
        return await login(api, email, STAFF_PASSWORD)

    return make


@pytest.fixture
async def admin_token(make_staff: Any) -> str:
    token: str = await make_staff(StaffRole.ADMIN)
    return token


@pytest.fixture
def run_worker(settings: Settings) -> Any:
    """Run a real arq worker in burst mode: it works through the queue, then returns."""

    async def run() -> None:
        worker = build_worker(settings, burst=True, handle_signals=False, poll_delay=0.05)
        try:
            await worker.main()
        finally:
            await worker.close()

    return run


# The client area of the emails the tests queue.
CLIENT_AREA_URL = "https://clients.example.com"


async def pay_by_transfer(
    conn: asyncpg.Connection, invoice_id: int, amount: str, **values: Any
) -> Payment:
    """Record a bank transfer of `amount` against the invoice, as no staff member; `values`
    add the rest of record_payment's keywords (fees, transaction_id, an idempotency key)."""
    return await payments.record_payment(
        conn,
        invoice_id,
        amount=amount,
        gateway="banktransfer",
        staff_id=None,
        client_area_url=CLIENT_AREA_URL,
        **values,
    )


async def add_client(
    conn: asyncpg.Connection,
    *,
    first_name: str = "Joe",
    last_name: str = "Bloggs",
    email: str = "joe@example.com",
    send_welcome_email: bool = False,
    password: str | None = None,
    staff_id: int | None = None,
    **values: Any,
) -> Client:
    """Add a client through the domain use case; Joe Bloggs, no welcome email, unless told."""
    return await client_services.add_client(
        conn,
        {"first_name": first_name, "last_name": last_name, "email": email, **values},
        password=password,
        staff_id=staff_id,
        send_welcome_email=send_welcome_email,
        client_area_url=CLIENT_AREA_URL,
    )


async def turn_on_two_factor(conn: asyncpg.Connection, email: str) -> str:
    """Give a login two-factor as its confirmed setup would; return its TOTP secret."""
    login_id = await conn.fetchval("SELECT id FROM logins WHERE email = $1", email)
    setup = await two_factor.begin_two_factor_setup(conn, login_id, email, TEST_KEYRING)
    await conn.execute("UPDATE logins SET totp_enabled = true WHERE id = $1", login_id)
    return setup.secret


def mail_dir_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.eml"))
