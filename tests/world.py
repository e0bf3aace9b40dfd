"""A small world with rows in every list the API serves, shared by the fuzz test
(tests/fuzzing.py) and the list tests (tests/api/test_lists.py): a list that is empty when
tested hides whatever breaks only once it has rows (an automation run's list did).

Two clients, a staff admin and a sub-account of the first client with every permission; the
first client has a contact, an order (a service, an addon and a domain) with its invoice
paid, a second invoice, credit, a ticket (in a department) with messages carrying files, a
file the client area sees and an admin-only one, a sent quote, and an affiliate account that
referred the second client (whose paid invoice earned it a commission); the second client a
ticket and a service too; two products in a group, and an addon and a pending cancellation
of each client's first service; emails sent, two failed; two automation runs and a tax rule;
and the audit entries all this makes. Made through the domain's use cases, as the app makes
them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta

import asyncpg
from redis.asyncio import Redis

from domain.affiliates import services as affiliates
from domain.auth import passwords
from domain.auth.permissions import ContactPermission, StaffRole
from domain.automation import runs
from domain.billing import invoices, orders, payments, tax
from domain.billing.models import ItemKind
from domain.billing.testcard import TestCardGateway
from domain.catalogue import cancellations, products
from domain.catalogue.models import CancellationType
from domain.clients import merge
from domain.contacts import services as contacts
from domain.credit import services as credit
from domain.emails import outbox
from domain.files import services as files
from domain.files import storage
from domain.files.storage import FileStore, StoredUpload
from domain.quotes import services as quotes
from domain.staff import api_keys
from domain.tickets import departments
from domain.tickets import services as tickets
from schema.ids import global_id
from tests.conftest import CLIENT_AREA_URL, TEST_TABLES, add_client
from tests.table_reset import TableReset

PASSWORD = "fuzz-password-1"
CLIENT_AREA = "http://127.0.0.1:8000"
# What an automation run of the world uses: the test gateway, no stored cards.
RUN_TOOLS = runs.RunTools({"testcard": TestCardGateway()}, None, CLIENT_AREA)
# Besides the tables tests fill, what the world fills and no truncated table cascades to.
TABLES = f"{TEST_TABLES}, client_files"


@dataclass(frozen=True)
class World:
    """The login each role acts as, and the rows a test may want to name."""

    login_ids: dict[str, int]
    client_id: int
    other_client_id: int
    order_id: int
    invoice_id: int


async def make_world(pool: asyncpg.Pool, redis: Redis, store: FileStore) -> World:
    """Empty tables and Redis, then the world of this module; every login's password is
    PASSWORD (hashed once)."""
    await redis.flushdb()
    async with pool.acquire() as conn:
        await (await TableReset.build(conn, TABLES)).run(conn)
        joe = await add_client(conn, email="joe@example.com")
        # A welcome email: one sent, one failed and one queued below.
        ann = await add_client(
            conn, first_name="Ann", email="ann@example.com", send_welcome_email=True
        )
        staff_login, sub_login = [
            await conn.fetchval("INSERT INTO logins (email) VALUES ($1) RETURNING id", email)
            for email in ("admin@staff.example.com", "sub@example.com")
        ]
        await conn.execute("UPDATE logins SET password_hash = $1", _password_hash())
        staff_id = await conn.fetchval(
            """INSERT INTO staff (login_id, first_name, last_name, role)
               VALUES ($1, 'A', 'M', $2) RETURNING id""",
            staff_login,
            StaffRole.ADMIN.value,
        )
        await conn.execute(
            """INSERT INTO contacts (client_id, login_id, first_name, last_name, email,
                                     permissions)
               VALUES ($1, $2, 'Sub', 'Account', 'sub@example.com', $3)""",
            joe.id,
            sub_login,
            sorted(p.value for p in ContactPermission),
        )
        # Joe refers Ann before her invoice is paid: it earns him a commission.
        affiliate = await affiliates.activate_affiliate(conn, joe.id)
        await affiliates.record_referral(conn, ann.id, affiliate.referral_code)
        order_id, invoice_id = await _fill_lists(
            conn, joe.id, ann.id, (staff_id, staff_login), store
        )
    return World(
        {"staff": staff_login, "client": joe.owner_login_id, "sub-account": sub_login},
        client_id=joe.id,
        other_client_id=ann.id,
        order_id=order_id,
        invoice_id=invoice_id,
    )


@functools.cache
def _password_hash() -> str:
    return passwords.hash_password_blocking(PASSWORD)


async def _fill_lists(
    conn: asyncpg.Connection,
    client_id: int,
    other_id: int,
    staff: tuple[int, int],
    store: FileStore,
) -> tuple[int, int]:
    """Rows in every list of the first client, and in the lists of the whole installation,
    made by the staff member (its id and login's); the order's id and the unpaid invoice's."""
    staff_id, staff_login = staff
    await contacts.add_contact(
        conn,
        client_id,
        {
            "first_name": "Bea",
            "last_name": "Billing",
            "email": "bea@example.com",
            "sub_account": True,
            "permissions": [ContactPermission.INVOICES],
        },
        staff_id=staff_id,
        may_grant_access=True,
        client_area_url=CLIENT_AREA,
    )
    order = await orders.place_order(
        conn,
        client_id,
        items=[
            {"kind": kind, "name": f"{kind.value.title()} 1", "amount": "10.00"}
            for kind in (ItemKind.SERVICE, ItemKind.ADDON, ItemKind.DOMAIN)
        ],
        payment_method=None,
        staff_id=staff_id,
    )
    assert order.invoice_id is not None
    await orders.accept_order(conn, order.id, staff_id=staff_id, client_area_url=CLIENT_AREA)
    # Two transactions of the first client, one of the other; the second invoice is left
    # part-paid.
    unpaid = await _invoice(conn, client_id)
    paid = [(order.invoice_id, "30.00"), (unpaid, "2.00"), (await _invoice(conn, other_id), "5.00")]
    for invoice, amount in paid:
        await payments.record_payment(
            conn,
            invoice,
            amount=amount,
            gateway="banktransfer",
            staff_id=staff_id,
            client_area_url=CLIENT_AREA_URL,
        )
    await credit.add_credit(
        conn,
        client_id,
        amount="3.00",
        description="Goodwill",
        staff_id=staff_id,
        login_id=staff_login,
    )
    merged = await add_client(conn, first_name="Old", email="old@example.com")
    await merge.merge_clients(
        conn, client_id, merged.id, merge.MergeKeep.FIRST, keyring=None, staff_id=staff_id
    )
    await tax.set_tax_rule(conn, country="DE", state=None, name="VAT", rate="19.00")
    # A ticket and a service of each client: the staff lists of all clients page to a second.
    # The first client's ticket is filed under a department.
    department = await departments.save_department(
        conn, None, "Support", "support@example.com", staff_id=staff_id
    )
    for client, department_id in ((client_id, department.id), (other_id, None)):
        await _ticket(conn, store, client, staff_id, department_id)
    await orders.place_order(
        conn,
        other_id,
        items=[{"kind": ItemKind.SERVICE, "name": "Service 2", "amount": "10.00"}],
        payment_method=None,
        staff_id=staff_id,
    )
    quote = await quotes.save_quote(
        conn,
        client_id,
        quote_id=None,
        lines=[{"description": "Design", "amount": "50.00"}],
        valid_until=date.today() + timedelta(days=30),
        staff_id=staff_id,
    )
    await quotes.send_quote(
        conn, quote.id, staff_id=staff_id, client_area_url=CLIENT_AREA, page_id="Q"
    )
    for title, admin_only in (("Terms", False), ("Staff notes", True)):
        await _file(conn, store, client_id, title, admin_only, staff_id)
    await _catalogue(conn, client_id, other_id)
    for as_of in (date.today() - timedelta(days=1), date.today()):
        await runs.perform_run(conn, as_of, RUN_TOOLS)
    await _emails(conn)
    await api_keys.create_api_key(
        conn,
        name="Dashboard",
        role_id=await conn.fetchval("SELECT min(id) FROM staff_roles"),
        expires_at=None,
        staff_id=staff_id,
    )
    return order.id, unpaid


async def _catalogue(conn: asyncpg.Connection, client_id: int, other_id: int) -> None:
    """Two products priced in one group; an addon of each client's first service, and a
    cancellation request of it, left pending (due at the end of its period)."""
    group = await products.save_product_group(conn, None, "Hosting")
    for name in ("Starter", "Business"):
        await products.save_product(
            conn,
            None,
            {
                "kind": ItemKind.SERVICE,
                "name": name,
                "group_id": group.id,
                "pricing": [{"currency": "USD", "cycle": "MONTHLY", "amount": "5.00"}],
            },
        )
    for client in (client_id, other_id):
        service_id = await conn.fetchval(
            "SELECT min(id) FROM services WHERE client_id = $1", client
        )
        await orders.place_order(
            conn,
            client,
            items=[
                {
                    "kind": ItemKind.ADDON,
                    "name": "Backups",
                    "amount": "2.00",
                    "service_id": service_id,
                }
            ],
            payment_method=None,
            staff_id=None,
        )
        await cancellations.request_cancellation(
            conn,
            service_id,
            client_id=client,
            type=CancellationType.END_OF_BILLING_PERIOD,
            reason="Moving on",
            login_id=None,
            today=date.today(),
        )


async def _invoice(conn: asyncpg.Connection, client_id: int) -> int:
    made = await invoices.create_invoice(
        conn,
        client_id,
        items=[{"description": "Setup", "amount": "5.00"}],
        due_date=None,
        payment_method=None,
        staff_id=None,
    )
    return made.id


async def _ticket(
    conn: asyncpg.Connection,
    store: FileStore,
    client_id: int,
    staff_id: int,
    department_id: int | None,
) -> None:
    """A ticket whose messages, the client's and the staff reply, each carry a file."""

    async def attached(name: str) -> list[StoredUpload]:
        stored = await storage.store_upload(store, _Bytes(b"log lines"), 1000)
        return [StoredUpload(stored, name, "text/plain")]

    writer = await tickets.writer_of_viewer(conn, client_id, None)
    ticket = await tickets.open_ticket(
        conn,
        writer,
        "Help",
        "It broke.",
        client_area_url=CLIENT_AREA,
        department_id=department_id,
        attachments=await attached("error.log"),
    )
    await tickets.reply_to_ticket(
        conn,
        ticket.id,
        "Fixed.",
        staff_id=staff_id,
        client_area_url=CLIENT_AREA,
        attachments=await attached("server.log"),
    )


class _Bytes:
    """An upload of a few bytes, read as `storage.store_upload` reads one."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    async def read(self, size: int = -1) -> bytes:
        content, self._content = self._content, b""
        return content


async def _file(
    conn: asyncpg.Connection,
    store: FileStore,
    client_id: int,
    title: str,
    admin_only: bool,
    staff_id: int,
) -> None:
    stored = await storage.store_upload(store, _Bytes(b"%PDF-1.4"), 1000)
    await files.add_file(
        conn,
        client_id,
        stored,
        title=title,
        filename=f"{title.lower().replace(' ', '-')}.pdf",
        content_type="application/pdf",
        admin_only=admin_only,
        staff_id=staff_id,
    )


async def _emails(conn: asyncpg.Connection) -> None:
    """Every email queued so far tried, as the worker would leave them: the last two failed,
    the others sent."""
    queued = await outbox.due_attempts(conn, new_after_seconds=-1)
    *sent, failing, failed = await outbox.start_attempts(conn, queued, lease_seconds=60)
    await outbox.mark_sent(conn, [outbox.SentEmail(e.id, e.template, "Hello.") for e in sent])
    policy = outbox.RetryPolicy()
    for email in (failing, failed):
        attempt = outbox.Attempt(email.id, email.attempts)
        await outbox.record_failure(conn, attempt, "550 no such user", policy, permanent=True)


# Every list of the API that a query reaches, with rows when the world is made: read as
# staff, `$client` the world's first client and `$order` its order (`every_list_variables`;
# tests/api/test_lists.py keeps it complete).
EVERY_LIST = """
query EveryList($client: ID!, $order: ID!) {
  viewer { permissions productStatusFilter { services domains } }
  clients(first: 50) { edges { node { id } } }
  auditLog { edges { node { id } } }
  automationRuns { edges { node { asOf steps { step } failures { step } } } }
  transactions { edges { node { id } } }
  invoices { edges { node { id items { description } } } }
  services { edges { node { id addons { id } } } }
  tickets { edges { node { id messages { id attachments { id } } } } }
  ticketDepartments { id }
  failedEmails { edges { node { id } } }
  taxRules { id }
  paymentGateways { name }
  products { edges { node { id pricing { amount } } } }
  productGroups { id }
  cancellationRequests { edges { node { id } } }
  emailTemplatePreviews { key }
  emailTemplates { name }
  staffMembers { edges { node { id role { permissions } } } }
  staffRoles { id permissions }
  apiKeys { id }
  nodes(ids: [$client]) { id }
  order: node(id: $order) { ... on Order { items { id } } }
  dashboard {
    clientsByStatus { count } unpaidInvoices { totals { amount } }
    income(from: "TODAY", to: "TODAY", interval: DAY) { totals { amount } }
  }
  client(id: $client) {
    emails { id } creditLog { id } services { id addons { id } } addons { id } domains { id }
    invoices { id items { description } } transactions { id } mergedFrom
    contacts { id permissions } tickets { id messages { id } } files { id }
    quotes { id lines { description } }
    affiliate { balance { amount } referrals { referredAt } commissions { amount } }
  }
}""".replace("TODAY", date.today().isoformat())  # the world's payments are today's


def every_list_variables(world: World) -> dict[str, str]:
    """The variables of EVERY_LIST for this world."""
    return {
        "client": str(global_id("Client", world.client_id)),
        "order": str(global_id("Order", world.order_id)),
    }


# Lists a healthy world leaves empty: the failures of its automation runs.
MAY_BE_EMPTY = frozenset({"failures"})


def empty_lists(data: object, path: str = "") -> list[str]:
    """The paths of the lists in a response's `data` that have no rows."""
    if isinstance(data, dict):
        return [
            found for key, value in data.items() for found in empty_lists(value, f"{path}.{key}")
        ]
    if isinstance(data, list):
        if not data:
            return [] if path.rsplit(".", 1)[-1] in MAY_BE_EMPTY else [path]
        return [found for i, item in enumerate(data) for found in empty_lists(item, path)]
    return []
