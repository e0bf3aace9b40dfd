"""SPEC 1.1–1.5 and 1.8 at the domain layer: client use cases and queries on a real database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from domain.auth.permissions import StaffRole
from domain.auth.staff import Staff, create_staff
from domain.clients import queries, services
from domain.clients.models import Client, ClientStatus
from domain.clients.queries import ClientFilter, ClientOrderField
from domain.errors import DomainError, ErrorCode
from domain.paging import PageRequest, Position
from domain.settings import ClientDisplayFormat
from domain.totals import Total
from tests.conftest import add_client

REQUIRED = ErrorCode.REQUIRED
INVALID = ErrorCode.INVALID
CONFLICT = ErrorCode.CONFLICT

# What any client change may touch; "nothing changed" means all of it is as it was.
STATE_TABLES = ("clients", "logins", "emails", "audit_log", "sessions")


async def table_state(conn: asyncpg.Connection) -> dict[str, list[dict[str, Any]]]:
    return {
        table: [dict(row) for row in await conn.fetch(f"SELECT * FROM {table} ORDER BY id")]
        for table in STATE_TABLES
    }


def field_errors(error: DomainError) -> set[tuple[str | None, ErrorCode]]:
    return {(e.field, e.code) for e in error.errors}


@pytest.fixture
async def staff(conn: asyncpg.Connection) -> Staff:
    return await create_staff(
        conn,
        email="sam@staff.example.com",
        password="staff-password-1",
        first_name="Sam",
        last_name="Staff",
        role=StaffRole.ADMIN,
    )


async def audit_entries(conn: asyncpg.Connection, client_id: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT staff_id, action, changes FROM audit_log WHERE client_id = $1 ORDER BY id",
        client_id,
    )
    return [dict(row) for row in rows]


# --- 1.1 adding a client ---------------------------------------------------------------------


async def test_1_1_add_client_stores_the_profile_normalised_with_its_owner_login(
    conn: asyncpg.Connection, staff: Staff
) -> None:
    added = await add_client(
        conn,
        staff_id=staff.id,
        password="client-password-1",
        first_name="  Joe ",
        email=" Joe.Bloggs@Example.COM ",
        company_name="Demo Company",
        phone_number="+44 20 7946 0000",
        address1="1 High Street",
        address2="Flat 2",
        city="London",
        state="Greater London",
        postcode="SW1A 1AA",
        country="gb",
        language="EN",
        currency="eur",
        notes="Prefers email.",
    )

    stored = await queries.get_client(conn, added.id)
    assert stored == added
    assert (stored.first_name, stored.last_name, stored.email) == (
        "Joe",
        "Bloggs",
        "Joe.Bloggs@example.com",
    )
    assert (stored.company_name, stored.phone_number) == ("Demo Company", "+44 20 7946 0000")
    assert (stored.address1, stored.address2, stored.city, stored.state, stored.postcode) == (
        "1 High Street",
        "Flat 2",
        "London",
        "Greater London",
        "SW1A 1AA",
    )
    assert (stored.country, stored.language, stored.currency) == ("GB", "en", "EUR")
    assert stored.notes == "Prefers email."
    assert stored.status is ClientStatus.ACTIVE
    login = await conn.fetchrow(
        "SELECT email::text, password_hash FROM logins WHERE id = $1", stored.owner_login_id
    )
    assert login["email"] == "Joe.Bloggs@example.com"
    assert login["password_hash"].startswith("$argon2id$")
    [entry] = await audit_entries(conn, added.id)
    assert (entry["staff_id"], entry["action"]) == (staff.id, "client.added")


async def test_1_1_optional_fields_default_sensibly(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)

    assert client.currency == "USD"  # the installation's default currency
    assert client.status is ClientStatus.ACTIVE
    assert client.company_name is client.country is client.notes is None
    assert client.credit_balance == 0
    flags = (
        client.overdue_notices_disabled,
        client.late_fees_exempt,
        client.tax_exempt,
        client.separate_invoices,
        client.cc_processing_disabled,
    )
    assert flags == (False,) * 5
    assert client.default_payment_method is None
    login = await conn.fetchrow(
        "SELECT password_hash FROM logins WHERE id = $1", client.owner_login_id
    )
    assert login["password_hash"] is None  # no password: the client sets one by reset


@pytest.mark.parametrize(
    ("values", "password", "expected"),
    [
        pytest.param(
            {"first_name": None, "last_name": None, "email": None},
            None,
            {("first_name", REQUIRED), ("last_name", REQUIRED), ("email", REQUIRED)},
            id="required-fields-missing",
        ),
        pytest.param({"first_name": "   "}, None, {("first_name", REQUIRED)}, id="blank-first"),
        pytest.param({"email": "joe@"}, None, {("email", INVALID)}, id="bad-email"),
        pytest.param({"email": "joe.example.com"}, None, {("email", INVALID)}, id="no-at-sign"),
        pytest.param({"country": "XX"}, None, {("country", INVALID)}, id="unknown-country"),
        pytest.param({"country": "GBR"}, None, {("country", INVALID)}, id="alpha-3-country"),
        pytest.param({"currency": "XYZ"}, None, {("currency", INVALID)}, id="unknown-currency"),
        pytest.param({"language": "xx"}, None, {("language", INVALID)}, id="unknown-language"),
        pytest.param({}, "short", {("password", INVALID)}, id="short-password"),
        pytest.param(
            {"last_name": "", "email": "bad@", "country": "ZZ", "currency": "ABC"},
            None,
            {("last_name", REQUIRED), ("email", INVALID), ("country", INVALID)}
            | {("currency", INVALID)},
            id="several-at-once",
        ),
    ],
)
async def test_1_1_invalid_new_client_is_refused_per_field_and_nothing_is_stored(
    conn: asyncpg.Connection,
    values: dict[str, Any],
    password: str | None,
    expected: set[tuple[str, ErrorCode]],
) -> None:
    await add_client(conn, email="someone@example.com", send_welcome_email=True)
    before = await table_state(conn)

    with pytest.raises(DomainError) as refused:
        await add_client(conn, password=password, send_welcome_email=True, **values)

    assert field_errors(refused.value) == expected
    assert all(e.message for e in refused.value.errors)
    assert await table_state(conn) == before


@pytest.mark.parametrize(
    ("existing", "new"),
    [("joe@example.com", "JOE@example.com"), ("Joe@EXAMPLE.com", "joe@example.com")],
)
async def test_1_1_email_already_used_by_a_client_in_any_case_is_a_conflict(
    conn: asyncpg.Connection, existing: str, new: str
) -> None:
    await add_client(conn, email=existing)
    before = await table_state(conn)

    with pytest.raises(DomainError) as refused:
        await add_client(conn, first_name="Other", email=new, send_welcome_email=True)

    assert field_errors(refused.value) == {("email", CONFLICT)}
    assert await table_state(conn) == before


async def test_1_1_email_of_a_staff_login_is_a_conflict(
    conn: asyncpg.Connection, staff: Staff
) -> None:
    before = await table_state(conn)

    with pytest.raises(DomainError) as refused:
        await add_client(conn, email=staff.email.upper())

    assert field_errors(refused.value) == {("email", CONFLICT)}
    assert await table_state(conn) == before


async def test_1_1_two_staff_adding_the_same_email_at_once_only_one_succeeds(
    pool: asyncpg.Pool,
) -> None:
    async def add_on_own_connection(email: str) -> Client:
        async with pool.acquire() as own:
            return await add_client(own, email=email)

    results = await asyncio.gather(
        add_on_own_connection("joe@example.com"),
        add_on_own_connection("JOE@example.com"),
        return_exceptions=True,
    )

    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(refused) == 1, results
    assert field_errors(refused[0]) == {("email", CONFLICT)}
    assert await pool.fetchval("SELECT count(*) FROM clients") == 1
    assert await pool.fetchval("SELECT count(*) FROM logins") == 1


@pytest.mark.parametrize(("send", "queued"), [(True, 1), (False, 0)])
async def test_1_1_welcome_email_is_queued_with_the_client_unless_told_not_to(
    conn: asyncpg.Connection, send: bool, queued: int
) -> None:
    client = await add_client(conn, send_welcome_email=send)

    rows = await conn.fetch("SELECT * FROM emails")
    assert len(rows) == queued
    for row in rows:
        assert (row["template"], row["client_id"]) == ("client_signup", client.id)
        assert (row["to_address"], row["to_name"]) == ("joe@example.com", "Joe Bloggs")
        assert row["sent_at"] is None  # a worker sends it


# --- 1.2 updating a client -------------------------------------------------------------------


async def test_1_2_update_changes_only_the_given_fields_and_audits_them(
    conn: asyncpg.Connection, staff: Staff
) -> None:
    client = await add_client(conn, city="Leeds", country="GB", notes="Old note")

    update = await services.update_client(
        conn,
        client.id,
        {"company_name": "Demo Company", "city": " London ", "country": "fr", "notes": None},
        staff_id=staff.id,
    )

    expected = replace(
        client,
        company_name="Demo Company",
        city="London",
        country="FR",
        notes=None,
        updated_at=update.client.updated_at,
    )
    assert update.client == expected
    assert await queries.get_client(conn, client.id) == expected
    assert update.warnings == []
    assert (await audit_entries(conn, client.id))[-1] == {
        "staff_id": staff.id,
        "action": "client.updated",
        "changes": {
            "company_name": {"from": None, "to": "Demo Company"},
            "city": {"from": "Leeds", "to": "London"},
            "country": {"from": "GB", "to": "FR"},
            "notes": {"from": "Old note", "to": None},
        },
    }


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param({"first_name": ""}, {("first_name", REQUIRED)}, id="empty-first-name"),
        pytest.param({"last_name": None}, {("last_name", REQUIRED)}, id="null-last-name"),
        pytest.param({"email": "   "}, {("email", REQUIRED)}, id="blank-email"),
        pytest.param({"email": "joe@@example.com"}, {("email", INVALID)}, id="bad-email"),
        pytest.param(
            {"email": "ANN@example.com"}, {("email", CONFLICT)}, id="email-of-another-client"
        ),
        pytest.param({"country": "UK"}, {("country", INVALID)}, id="unknown-country"),
        pytest.param({"currency": "BTC"}, {("currency", INVALID)}, id="unknown-currency"),
        pytest.param({"currency": None}, {("currency", REQUIRED)}, id="null-currency"),
        pytest.param({"phone_number": "call me"}, {("phone_number", INVALID)}, id="bad-phone"),
        pytest.param({"tax_exempt": None}, {("tax_exempt", INVALID)}, id="null-flag"),
        pytest.param(
            {"default_payment_method": "paypal"},
            {("default_payment_method", INVALID)},
            id="unknown-payment-method",
        ),
        pytest.param(
            {"first_name": " ", "email": "ann@example.com", "country": "XX", "city": "Paris"},
            {("first_name", REQUIRED), ("email", CONFLICT), ("country", INVALID)},
            id="several-at-once",
        ),
    ],
)
async def test_1_2_invalid_update_is_refused_per_field_and_nothing_changes(
    conn: asyncpg.Connection, values: dict[str, Any], expected: set[tuple[str, ErrorCode]]
) -> None:
    client = await add_client(conn, city="Leeds")
    await add_client(conn, first_name="Ann", email="ann@example.com")
    before = await table_state(conn)

    with pytest.raises(DomainError) as refused:
        await services.update_client(conn, client.id, values, staff_id=None)

    assert field_errors(refused.value) == expected
    assert await table_state(conn) == before


async def test_1_2_update_of_an_unknown_client_is_not_found(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    before = await table_state(conn)

    with pytest.raises(DomainError) as refused:
        await services.update_client(conn, client.id + 1, {"first_name": "Ann"}, staff_id=None)

    assert field_errors(refused.value) == {("id", ErrorCode.NOT_FOUND)}
    assert await table_state(conn) == before


async def test_1_2_new_email_becomes_the_owner_login_email(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)

    update = await services.update_client(
        conn, client.id, {"email": "joe@bloggs.example"}, staff_id=None
    )

    assert update.client.email == "joe@bloggs.example"
    login_email = await conn.fetchval(
        "SELECT email::text FROM logins WHERE id = $1", client.owner_login_id
    )
    assert login_email == "joe@bloggs.example"


async def test_1_2_keeping_the_own_email_in_another_case_is_no_conflict(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)

    update = await services.update_client(
        conn, client.id, {"email": "JOE@example.com"}, staff_id=None
    )

    assert update.client.email == "JOE@example.com"


# --- 1.3 status ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (ClientStatus.ACTIVE, ClientStatus.INACTIVE),
        (ClientStatus.ACTIVE, ClientStatus.CLOSED),
        (ClientStatus.CLOSED, ClientStatus.ACTIVE),
        (ClientStatus.INACTIVE, ClientStatus.CLOSED),
    ],
)
async def test_1_3_staff_set_the_status_explicitly_and_it_is_audited(
    conn: asyncpg.Connection, staff: Staff, start: ClientStatus, target: ClientStatus
) -> None:
    client = await add_client(conn)
    await services.set_client_status(conn, client.id, start, staff_id=None)

    changed = await services.set_client_status(conn, client.id, target, staff_id=staff.id)

    assert changed.status is target
    stored = await queries.get_client(conn, client.id)
    assert stored is not None and stored.status is target
    assert (await audit_entries(conn, client.id))[-1] == {
        "staff_id": staff.id,
        "action": "client.status_changed",
        "changes": {"status": {"from": start.value, "to": target.value}},
    }


async def test_1_3_status_of_an_unknown_client_is_not_found(conn: asyncpg.Connection) -> None:
    with pytest.raises(DomainError) as refused:
        await services.set_client_status(conn, 12345, ClientStatus.CLOSED, staff_id=None)

    assert field_errors(refused.value) == {("id", ErrorCode.NOT_FOUND)}


# --- 1.4 display name ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("display_format", "company", "expected"),
    [
        (ClientDisplayFormat.NAME_ONLY, "Demo Company", "Joe Bloggs"),
        (ClientDisplayFormat.NAME_ONLY, None, "Joe Bloggs"),
        (ClientDisplayFormat.COMPANY_IF_SET, "Demo Company", "Demo Company"),
        (ClientDisplayFormat.COMPANY_IF_SET, None, "Joe Bloggs"),
        (ClientDisplayFormat.NAME_AND_COMPANY, "Demo Company", "Joe Bloggs (Demo Company)"),
        (ClientDisplayFormat.NAME_AND_COMPANY, None, "Joe Bloggs"),
    ],
)
async def test_1_4_display_name_follows_the_display_format(
    conn: asyncpg.Connection,
    display_format: ClientDisplayFormat,
    company: str | None,
    expected: str,
) -> None:
    client = await add_client(conn, company_name=company)

    assert client.display_name(display_format) == expected


# --- 1.5 per-client flags --------------------------------------------------------------------

FLAGS = (
    "overdue_notices_disabled",
    "late_fees_exempt",
    "tax_exempt",
    "separate_invoices",
    "cc_processing_disabled",
)


def flags_of(client: Client) -> dict[str, bool]:
    return {flag: getattr(client, flag) for flag in FLAGS}


@pytest.mark.parametrize("flag", FLAGS)
async def test_1_5_each_flag_is_stored_on_its_own(conn: asyncpg.Connection, flag: str) -> None:
    client = await add_client(conn)
    only_this = {f: f == flag for f in FLAGS}

    turned_on = await services.update_client(conn, client.id, {flag: True}, staff_id=None)
    stored = await queries.get_client(conn, client.id)
    assert stored is not None
    assert flags_of(turned_on.client) == flags_of(stored) == only_this

    turned_off = await services.update_client(conn, client.id, {flag: False}, staff_id=None)
    assert flags_of(turned_off.client) == dict.fromkeys(FLAGS, False)


async def test_1_5_default_payment_method_is_an_enabled_gateway_or_none(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)

    chosen = await services.update_client(
        conn, client.id, {"default_payment_method": "testcard"}, staff_id=None
    )
    assert chosen.client.default_payment_method == "testcard"
    stored = await queries.get_client(conn, client.id)
    assert stored is not None and stored.default_payment_method == "testcard"

    cleared = await services.update_client(
        conn, client.id, {"default_payment_method": None}, staff_id=None
    )
    assert cleared.client.default_payment_method is None


# --- 1.8 search, filter, sort, pages ---------------------------------------------------------

# Added in this order, with a status and a signup date (days after SIGNUP_EPOCH) chosen so
# that no sort order equals the order of ids. Two companies and two signup dates tie, to test
# the id tie-break across page boundaries.
PEOPLE: list[dict[str, Any]] = [
    dict(zip(("first", "last", "company", "email", "status", "days"), row, strict=True))
    for row in [
        ("Joe", "Bloggs", "Demo Company", "joe@bloggs.example", ClientStatus.ACTIVE, 5),
        ("Anna", "Young", None, "anna.young@mail.example", ClientStatus.INACTIVE, 1),
        ("Zoe", "Adams", "Bright Hosting Ltd", "zoe@bright.example", ClientStatus.ACTIVE, 3),
        ("Mark", "Young", "demo web", "mark@web.example", ClientStatus.CLOSED, 1),
        ("Carla", "Mendes", None, "CARLA@mendes.example", ClientStatus.ACTIVE, 7),
        ("Bob", "Bloggs", "Zenith", "bob@zenith.example", ClientStatus.INACTIVE, 2),
        ("Ed", "Ng", "bright hosting ltd", "ed@ng.example", ClientStatus.ACTIVE, 4),
    ]
]
SIGNUP_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

# How each order sorts a person, mirroring the SQL; ties are broken by id (insertion order).
SORT_KEYS: dict[ClientOrderField, Callable[[int, dict[str, Any]], Any]] = {
    ClientOrderField.ID: lambda i, p: i,
    ClientOrderField.NAME: lambda i, p: f"{p['last']}, {p['first']}".lower(),
    ClientOrderField.COMPANY: lambda i, p: (p["company"] or "").lower(),
    ClientOrderField.EMAIL: lambda i, p: p["email"].lower(),
    ClientOrderField.CREATED_AT: lambda i, p: p["days"],
}


def emails_in_order(order: ClientOrderField, descending: bool) -> list[str]:
    ranked = sorted(enumerate(PEOPLE), key=lambda ip: (SORT_KEYS[order](*ip), ip[0]))
    emails = [p["email"] for _, p in ranked]
    return emails[::-1] if descending else emails


def emails_where(predicate: Callable[[dict[str, Any]], bool]) -> list[str]:
    return [p["email"] for p in PEOPLE if predicate(p)]


async def add_people(conn: asyncpg.Connection) -> None:
    """The directory of PEOPLE, with their status and signup date."""
    for person in PEOPLE:
        client = await add_client(
            conn,
            first_name=person["first"],
            last_name=person["last"],
            company_name=person["company"],
            email=person["email"],
        )
        await conn.execute(
            "UPDATE clients SET status = $2, created_at = $3 WHERE id = $1",
            client.id,
            person["status"].value,
            SIGNUP_EPOCH + timedelta(days=person["days"]),
        )


# Search term → who it finds, in id order.
SEARCHES = [
    pytest.param("young", emails_where(lambda p: p["last"] == "Young"), id="last-name"),
    pytest.param("ANN", ["anna.young@mail.example"], id="first-name-upper-case"),
    pytest.param("joe bloggs", ["joe@bloggs.example"], id="full-name"),
    pytest.param("demo", ["joe@bloggs.example", "mark@web.example"], id="company-any-case"),
    pytest.param("RIGHT HOST", ["zoe@bright.example", "ed@ng.example"], id="inside-company"),
    pytest.param("MENDES.example", ["CARLA@mendes.example"], id="email-domain"),
    pytest.param("carla@", ["CARLA@mendes.example"], id="email-local-part"),
    pytest.param("  zenith ", ["bob@zenith.example"], id="surrounding-spaces"),
    pytest.param("nobody", [], id="no-match"),
    pytest.param("%", [], id="percent-is-literal"),
    pytest.param("_", [], id="underscore-is-literal"),
]

ACTIVE, INACTIVE, CLOSED = ClientStatus
STATUS_FILTERS = [
    pytest.param((ACTIVE,), emails_where(lambda p: p["status"] is ACTIVE), id="active"),
    pytest.param(
        (INACTIVE, CLOSED),
        emails_where(lambda p: p["status"] in (INACTIVE, CLOSED)),
        id="inactive-or-closed",
    ),
    pytest.param((), emails_where(lambda p: True), id="no-filter"),
]

ORDERS = [
    pytest.param(order, descending, id=f"{order.value}-{'desc' if descending else 'asc'}")
    for order in ClientOrderField
    for descending in (False, True)
]


async def walk_pages(
    conn: asyncpg.Connection,
    client_filter: ClientFilter,
    order: ClientOrderField,
    descending: bool,
    page_size: int,
    *,
    backwards: bool = False,
) -> list[str]:
    """Follow the positions from the first page to the last (from the last page to the
    first when `backwards`); return the emails seen, in list order. Every page must say
    truly whether pages lie before and after it."""
    pages: list[list[str]] = []
    cursor = None
    for _ in range(len(PEOPLE) + 1):
        request = (
            PageRequest(page_size, backwards=True, before=cursor)
            if backwards
            else PageRequest(page_size, after=cursor)
        )
        page = await queries.find_clients(
            conn, client_filter, request, order=order, descending=descending
        )
        assert len(page.items) <= page_size
        emails = [c.email for c in page.items]
        more_ahead = page.has_previous_page if backwards else page.has_next_page
        more_behind = page.has_next_page if backwards else page.has_previous_page
        assert more_behind is bool(pages), (emails, pages)
        pages.append(emails)
        if not more_ahead:
            if backwards:
                pages.reverse()
            return [email for emails in pages for email in emails]
        cursor = page.positions[0] if backwards else page.positions[-1]
    raise AssertionError(f"pagination does not end: {pages}")


@pytest.mark.parametrize(("term", "expected"), SEARCHES)
async def test_1_8_search_matches_part_of_name_company_or_email_in_any_case(
    conn: asyncpg.Connection, term: str, expected: list[str]
) -> None:
    await add_people(conn)
    search = ClientFilter(search=term)

    page = await queries.find_clients(conn, search)

    assert [c.email for c in page.items] == expected
    assert await queries.count_clients(conn, search) == Total(len(expected), is_estimate=False)


@pytest.mark.parametrize(("statuses", "expected"), STATUS_FILTERS)
async def test_1_8_status_filter_keeps_only_those_statuses(
    conn: asyncpg.Connection, statuses: Sequence[ClientStatus], expected: list[str]
) -> None:
    await add_people(conn)
    status_filter = ClientFilter(statuses=tuple(statuses))

    page = await queries.find_clients(conn, status_filter)

    assert [c.email for c in page.items] == expected
    assert await queries.count_clients(conn, status_filter) == Total(
        len(expected), is_estimate=False
    )


@pytest.mark.parametrize(("order", "descending"), ORDERS)
async def test_1_8_every_order_pages_through_all_clients_without_duplicates_or_misses(
    conn: asyncpg.Connection, order: ClientOrderField, descending: bool
) -> None:
    await add_people(conn)

    seen = await walk_pages(conn, ClientFilter(), order, descending, page_size=2)

    assert seen == emails_in_order(order, descending)


@pytest.mark.parametrize(("order", "descending"), ORDERS)
async def test_1_8_every_order_pages_backwards_through_all_clients_from_the_end(
    conn: asyncpg.Connection, order: ClientOrderField, descending: bool
) -> None:
    await add_people(conn)

    seen = await walk_pages(conn, ClientFilter(), order, descending, page_size=2, backwards=True)

    assert seen == emails_in_order(order, descending)


async def test_1_8_search_and_status_filter_apply_to_every_page_and_to_the_count(
    conn: asyncpg.Connection,
) -> None:
    await add_people(conn)
    narrowed = ClientFilter(search="O", statuses=(ACTIVE, INACTIVE))
    # Mark Young (CLOSED) and Carla Mendes (no "o") are left out; sorted by last name.
    expected = [
        "zoe@bright.example",
        "bob@zenith.example",
        "joe@bloggs.example",
        "ed@ng.example",
        "anna.young@mail.example",
    ]

    seen = await walk_pages(conn, narrowed, ClientOrderField.NAME, False, page_size=2)

    assert seen == expected
    assert await queries.count_clients(conn, narrowed) == Total(len(expected), is_estimate=False)


@pytest.mark.parametrize("side", ["after", "before"])
@pytest.mark.parametrize(
    ("order", "position"),
    [
        (ClientOrderField.ID, Position("not a number", 1)),
        (ClientOrderField.CREATED_AT, Position("not a date", 1)),
        (ClientOrderField.NAME, Position("bloggs, joe", 10**30)),
    ],
)
async def test_1_8_a_position_that_is_not_of_the_order_type_is_refused(
    conn: asyncpg.Connection, order: ClientOrderField, position: Position, side: str
) -> None:
    await add_people(conn)
    request = PageRequest(10, backwards=side == "before", **{side: position})

    with pytest.raises(DomainError) as refused:
        await queries.find_clients(conn, ClientFilter(), request, order=order)

    assert field_errors(refused.value) == {(side, INVALID)}


async def test_1_8_a_page_between_two_positions_holds_what_lies_between_them(
    conn: asyncpg.Connection,
) -> None:
    await add_people(conn)
    everyone = await queries.find_clients(conn, ClientFilter(), PageRequest(len(PEOPLE)))
    after, before = everyone.positions[1], everyone.positions[-2]
    between = [c.email for c in everyone.items[2:-2]]

    forwards = await queries.find_clients(
        conn, ClientFilter(), PageRequest(2, after=after, before=before)
    )
    backwards = await queries.find_clients(
        conn, ClientFilter(), PageRequest(2, backwards=True, after=after, before=before)
    )

    assert [c.email for c in forwards.items] == between[:2]
    assert (forwards.has_previous_page, forwards.has_next_page) == (True, True)
    assert [c.email for c in backwards.items] == between[-2:]
    assert (backwards.has_previous_page, backwards.has_next_page) == (True, True)


async def test_1_8_every_way_of_reading_a_client_reads_each_field_from_its_column(
    conn: asyncpg.Connection,
) -> None:
    """Client rows are read by position (`queries.client_from_row`): by id, in a batch, on a
    page (after the page's own columns, with its total or not) and among a search's collected
    matches (after the total's): each field holds its own column, as read by name."""
    client = await add_client(conn, email="sam@columns.example")
    await conn.execute(
        """UPDATE clients SET company_name = 'Columns Ltd', phone_number = '+44 1',
                  address1 = '1 Row St', address2 = 'Flat 2', city = 'Leeds',
                  state = 'West Yorkshire', postcode = 'LS1 1AA', country = 'GB',
                  language = 'en', notes = 'Staff note', status = 'INACTIVE',
                  overdue_notices_disabled = true, late_fees_exempt = false, tax_exempt = true,
                  separate_invoices = false, cc_processing_disabled = true,
                  credit_balance = 12.34
            WHERE id = $1""",
        client.id,
    )
    await conn.execute(
        "UPDATE logins SET last_login_at = now() - interval '1 day' WHERE id = $1",
        client.owner_login_id,
    )
    row = await conn.fetchrow(
        """SELECT c.*, c.email::text AS email, l.totp_enabled AS two_factor_enabled,
                  l.last_login_at
             FROM clients c JOIN logins l ON l.id = c.owner_login_id WHERE c.id = $1""",
        client.id,
    )
    expected = {name: row[name] for name in asdict(client)} | {"status": ClientStatus.INACTIVE}
    one = PageRequest(size=1)

    read = {
        "by id": await queries.get_client(conn, client.id),
        "in a batch": (await queries.clients_by_ids(conn, [client.id]))[client.id],
        "on a page": (await queries.find_clients(conn, ClientFilter(), one)).items[0],
        "on a page with its total": (
            await queries.find_and_count_clients(conn, ClientFilter(), one)
        )[0].items[0],
        "among a search's matches": (
            await queries.find_and_count_clients(conn, ClientFilter(search="columns"), one)
        )[0].items[0],
    }

    assert len(set(map(repr, expected.values()))) >= 20  # distinct enough to catch a shift
    for way, found in read.items():
        assert found is not None
        assert asdict(found) == expected, way
