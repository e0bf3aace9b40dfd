"""SPEC 2.4 (with 1.3 and 5.1) at the domain layer: a sub-account is a contact with a login of
its own; the session says which client it acts for with which permissions; only the account
holder or staff (`may_grant_access`) manage sub-accounts and their logins; a sub-account's
email is unique among logins, also when two requests race for it.

argon2 is slow on purpose: logins get the hash computed once for the module (`PASSWORD_HASH`),
and only the tests about setting a password hash one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from collections.abc import Set as AbstractSet
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from domain.auth import passwords, sessions
from domain.auth.login import LoginRequest, log_in
from domain.auth.permissions import ContactPermission
from domain.auth.throttle import LoginThrottle
from domain.auth.viewer import Viewer, ViewerKind
from domain.clients import login_email
from domain.clients import services as client_services
from domain.clients.models import ClientStatus
from domain.contacts import services
from domain.contacts.models import Contact
from domain.errors import DomainError, ErrorCode
from tests import conftest
from tests.conftest import Services

TTL = timedelta(hours=1)
PASSWORD = "sub-password-1"
PASSWORD_HASH = passwords.hash_password_blocking(PASSWORD)
FORBIDDEN = ErrorCode.FORBIDDEN
STATE_TABLES = ("clients", "contacts", "logins", "sessions", "emails", "audit_log")


async def table_state(conn: asyncpg.Connection) -> dict[str, list[dict[str, Any]]]:
    return {
        table: [dict(row) for row in await conn.fetch(f"SELECT * FROM {table} ORDER BY id")]
        for table in STATE_TABLES
    }


async def add_client(conn: asyncpg.Connection, email: str = "owner@example.com") -> int:
    client = await conftest.add_client(conn, email=email)
    return client.id


async def add_sub_account(
    conn: asyncpg.Connection,
    client_id: int,
    email: str = "sub@example.com",
    permissions: AbstractSet[ContactPermission] = frozenset(),
) -> Contact:
    """A sub-account whose password is PASSWORD (its hash made once for the module)."""
    login_id = await conn.fetchval(
        "INSERT INTO logins (email, password_hash) VALUES ($1, $2) RETURNING id",
        email,
        PASSWORD_HASH,
    )
    contact_id = await conn.fetchval(
        """INSERT INTO contacts (client_id, login_id, first_name, last_name, email, permissions)
           VALUES ($1, $2, 'Sub', 'Account', $3, $4) RETURNING id""",
        client_id,
        login_id,
        email,
        sorted(p.value for p in permissions),
    )
    contact = await services.get_contact(conn, contact_id)
    assert contact is not None and contact.sub_account
    return contact


async def add_plain_contact(
    conn: asyncpg.Connection, client_id: int, email: str = "plain@example.com"
) -> Contact:
    return await services.add_contact(
        conn,
        client_id,
        {"first_name": "Pat", "last_name": "Plain", "email": email},
        staff_id=None,
        may_grant_access=True,
    )


async def session_of(conn: asyncpg.Connection, contact: Contact) -> str:
    assert contact.login_id is not None
    return await sessions.start_session(conn, contact.login_id, ttl=TTL)


async def update(
    conn: asyncpg.Connection, contact: Contact, *, by_holder: bool = True, **values: Any
) -> Contact:
    return await services.update_contact(
        conn,
        contact.id,
        values,
        staff_id=None,
        may_grant_access=by_holder,
        client_scope=contact.client_id,
    )


def field_errors(error: DomainError) -> set[tuple[str | None, ErrorCode]]:
    return {(e.field, e.code) for e in error.errors}


async def login_of(conn: asyncpg.Connection, contact_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT l.id, l.email::text AS email, l.password_hash
             FROM contacts c JOIN logins l ON l.id = c.login_id WHERE c.id = $1""",
        contact_id,
    )


@pytest.fixture
async def client_id(conn: asyncpg.Connection) -> int:
    return await add_client(conn)


# --- the viewer of a sub-account's session -----------------------------------------------------


@pytest.mark.parametrize(
    "granted",
    [frozenset(), frozenset({ContactPermission.INVOICES}), frozenset(ContactPermission)],
    ids=["none", "invoices", "all"],
)
async def test_2_4_a_sub_accounts_session_is_a_contact_viewer_with_its_permissions(
    conn: asyncpg.Connection, client_id: int, granted: frozenset[ContactPermission]
) -> None:
    sub = await add_sub_account(conn, client_id, permissions=granted)

    viewer = await sessions.viewer_for_token(conn, await session_of(conn, sub))

    assert viewer is not None
    assert (viewer.kind, viewer.client_id, viewer.contact_id, viewer.email) == (
        ViewerKind.CONTACT,
        client_id,
        sub.id,
        "sub@example.com",
    )
    assert viewer.client_permissions == granted
    assert not viewer.is_staff and viewer.staff_role is None
    for permission in ContactPermission:
        assert viewer.has_client_permission(permission) is (permission in granted)


async def test_2_4_the_account_holder_has_every_permission(
    conn: asyncpg.Connection, client_id: int
) -> None:
    login_id = await conn.fetchval("SELECT owner_login_id FROM clients WHERE id = $1", client_id)
    viewer = await sessions.viewer_for_token(
        conn, await sessions.start_session(conn, login_id, ttl=TTL)
    )

    assert viewer is not None
    assert (viewer.kind, viewer.client_id, viewer.contact_id) == (
        ViewerKind.CLIENT,
        client_id,
        None,
    )
    assert viewer.client_permissions == frozenset(ContactPermission)
    assert all(viewer.has_client_permission(p) for p in ContactPermission)


def test_2_4_only_client_area_viewers_hold_client_area_permissions() -> None:
    common: dict[str, Any] = {"login_id": 1, "session_id": 1, "email": "x@example.com"}
    staff = Viewer(ViewerKind.STAFF, staff_id=1, **common)
    stray = Viewer(ViewerKind.STAFF, contact_permissions=frozenset(ContactPermission), **common)
    for viewer in (staff, stray):
        assert not any(viewer.has_client_permission(p) for p in ContactPermission)


@pytest.mark.parametrize(
    ("status", "has_viewer"),
    [(ClientStatus.ACTIVE, True), (ClientStatus.INACTIVE, True), (ClientStatus.CLOSED, False)],
)
async def test_1_3_a_closed_clients_sub_account_has_no_viewer_even_with_a_session(
    conn: asyncpg.Connection, client_id: int, status: ClientStatus, has_viewer: bool
) -> None:
    """The session lookup itself refuses a CLOSED client's sub-accounts, whatever became of
    their sessions (closing through the use case also deletes them: tested through the API)."""
    token = await session_of(conn, await add_sub_account(conn, client_id))
    await conn.execute("UPDATE clients SET status = $2 WHERE id = $1", client_id, status.value)

    assert (await sessions.viewer_for_token(conn, token) is not None) is has_viewer


# --- logging in --------------------------------------------------------------------------------


@pytest.fixture
async def throttle(services: Services) -> AsyncIterator[LoginThrottle]:
    redis = Redis.from_url(services.redis_url)
    yield LoginThrottle(redis, max_failures=5, cooldown_seconds=60)
    await redis.aclose()


@pytest.mark.parametrize(
    ("status", "refusal"),
    [
        (ClientStatus.ACTIVE, None),
        (ClientStatus.INACTIVE, None),
        (ClientStatus.CLOSED, ErrorCode.ACCOUNT_CLOSED),
    ],
)
async def test_5_1_sub_accounts_log_in_unless_their_client_is_closed(
    conn: asyncpg.Connection,
    throttle: LoginThrottle,
    client_id: int,
    status: ClientStatus,
    refusal: ErrorCode | None,
    pool: asyncpg.Pool,
) -> None:
    sub = await add_sub_account(conn, client_id, "Sub@Example.com", {ContactPermission.TICKETS})
    await client_services.set_client_status(conn, client_id, status, staff_id=None)

    try:
        token, viewer = await log_in(
            pool, throttle, LoginRequest("sub@example.com", PASSWORD), session_ttl=TTL
        )
    except DomainError as error:
        assert field_errors(error) == {("email", refusal)}
        assert await conn.fetchval("SELECT count(*) FROM sessions") == 0
        return
    assert refusal is None
    assert (viewer.kind, viewer.client_id, viewer.contact_id) == (
        ViewerKind.CONTACT,
        client_id,
        sub.id,
    )
    assert viewer.contact_permissions == {ContactPermission.TICKETS}
    assert await sessions.viewer_for_token(conn, token) == viewer


async def test_5_1_a_contact_without_a_login_cannot_log_in(
    conn: asyncpg.Connection, throttle: LoginThrottle, client_id: int, pool: asyncpg.Pool
) -> None:
    """A plain contact may even share a login's email: it is never a way in."""
    await add_plain_contact(conn, client_id, "plain@example.com")
    with pytest.raises(DomainError) as refused:
        await log_in(pool, throttle, LoginRequest("plain@example.com", PASSWORD), session_ttl=TTL)
    assert field_errors(refused.value) == {("password", ErrorCode.INVALID_CREDENTIALS)}


# --- making, changing and removing sub-accounts ------------------------------------------------


async def test_2_4_a_new_sub_account_gets_an_argon2id_login_and_its_permissions(
    conn: asyncpg.Connection, client_id: int
) -> None:
    contact = await services.add_contact(
        conn,
        client_id,
        {
            "first_name": "Sue",
            "last_name": "Sub",
            "email": "sue@example.com",
            "sub_account": True,
            "password": PASSWORD,
            "permissions": ["TICKETS", ContactPermission.PROFILE, "TICKETS"],
        },
        staff_id=None,
        may_grant_access=True,
    )

    assert contact.sub_account
    assert contact.permissions == {ContactPermission.PROFILE, ContactPermission.TICKETS}
    stored = await conn.fetchval("SELECT permissions FROM contacts WHERE id = $1", contact.id)
    assert stored == ["PROFILE", "TICKETS"]
    login = await login_of(conn, contact.id)
    assert login is not None and login["email"] == "sue@example.com"
    assert login["password_hash"].startswith("$argon2id$")
    assert await passwords.verify_password(login["password_hash"], PASSWORD)
    audited = await conn.fetchval("SELECT changes FROM audit_log WHERE action = 'contact.added'")
    assert PASSWORD not in str(audited) and "argon2" not in str(audited)


async def test_2_4_a_sub_account_password_given_by_staff_must_be_good(
    conn: asyncpg.Connection, client_id: int
) -> None:
    """Without one the sub-account is invited instead (test_invitations.py)."""
    values = {"sub_account": True, "password": "short"}
    errors = {("password", ErrorCode.INVALID)}
    plain = await add_plain_contact(conn, client_id)
    before = await table_state(conn)

    with pytest.raises(DomainError) as on_add:
        await services.add_contact(
            conn,
            client_id,
            {"first_name": "Sue", "last_name": "Sub", "email": "sue@example.com", **values},
            staff_id=None,
            may_grant_access=True,
        )
    with pytest.raises(DomainError) as on_update:
        await update(conn, plain, **values)

    assert field_errors(on_add.value) == errors
    assert field_errors(on_update.value) == errors
    assert await table_state(conn) == before


async def test_2_4_turning_a_sub_account_off_and_on_again_makes_a_new_login(
    conn: asyncpg.Connection, client_id: int
) -> None:
    sub = await add_sub_account(conn, client_id, permissions=frozenset({ContactPermission.EMAILS}))
    old_token = await session_of(conn, sub)

    off = await update(conn, sub, sub_account=False)
    assert not off.sub_account
    assert await conn.fetchval("SELECT count(*) FROM logins WHERE id = $1", sub.login_id) == 0
    assert await sessions.viewer_for_token(conn, old_token) is None

    on = await update(conn, off, sub_account=True, password=PASSWORD)
    assert on.sub_account and on.login_id != sub.login_id
    assert await sessions.viewer_for_token(conn, old_token) is None


async def test_2_4_unchanged_access_fields_given_as_none_change_nothing(
    conn: asyncpg.Connection, client_id: int
) -> None:
    """An input that names the access fields without values (GraphQL nulls) is no grant."""
    sub = await add_sub_account(conn, client_id, permissions=frozenset({ContactPermission.EMAILS}))
    token = await session_of(conn, sub)

    changed = await update(
        conn, sub, by_holder=False, sub_account=None, password=None, permissions=None, city="Leeds"
    )

    assert changed.city == "Leeds"
    assert (changed.login_id, changed.permissions) == (sub.login_id, sub.permissions)
    assert await sessions.viewer_for_token(conn, token) is not None


async def test_2_4_a_password_change_ends_only_that_logins_sessions(
    conn: asyncpg.Connection, client_id: int
) -> None:
    sub = await add_sub_account(conn, client_id)
    other = await add_sub_account(conn, client_id, "other@example.com")
    tokens = [await session_of(conn, sub) for _ in range(2)]
    other_token = await session_of(conn, other)

    await update(conn, sub, password="brand-new-password")

    login = await login_of(conn, sub.id)
    assert login is not None and await passwords.verify_password(
        login["password_hash"], "brand-new-password"
    )
    assert [await sessions.viewer_for_token(conn, t) for t in tokens] == [None, None]
    assert await sessions.viewer_for_token(conn, other_token) is not None


async def test_2_4_changing_a_sub_accounts_email_moves_its_login(
    conn: asyncpg.Connection, client_id: int
) -> None:
    sub = await add_sub_account(conn, client_id)

    moved = await update(conn, sub, email="moved@example.com")
    same = await update(conn, moved, email="MOVED@example.com")  # its own login: no conflict

    assert (moved.email, same.email) == ("moved@example.com", "MOVED@example.com")
    login = await login_of(conn, sub.id)
    assert login is not None and (login["id"], login["email"]) == (sub.login_id, same.email)


# --- only the account holder (or staff) manages sub-accounts -----------------------------------


@pytest.mark.parametrize(
    ("values", "fields"),
    [
        ({"permissions": ["PROFILE"]}, {"permissions"}),
        ({"permissions": []}, {"permissions"}),
        ({"password": "new-password-2"}, {"password"}),
        ({"sub_account": False}, {"sub_account"}),
        (
            {"sub_account": True, "password": "new-password-2", "permissions": ["ORDERS"]},
            {"sub_account", "password", "permissions"},
        ),
        ({"email": "mallory@example.com"}, {"email"}),
    ],
    ids=["grant", "revoke", "password", "sub-account-off", "everything", "login-email"],
)
async def test_2_4_without_may_grant_access_a_sub_accounts_access_stays(
    conn: asyncpg.Connection, client_id: int, values: dict[str, Any], fields: set[str]
) -> None:
    sub = await add_sub_account(
        conn, client_id, permissions=frozenset({ContactPermission.CONTACTS})
    )
    await session_of(conn, sub)
    before = await table_state(conn)

    with pytest.raises(DomainError) as refused:
        await update(conn, sub, by_holder=False, **values)

    assert field_errors(refused.value) == {(f, FORBIDDEN) for f in fields}
    assert await table_state(conn) == before


async def test_2_4_without_may_grant_access_no_sub_account_is_added(
    conn: asyncpg.Connection, client_id: int
) -> None:
    before = await table_state(conn)
    with pytest.raises(DomainError) as refused:
        await services.add_contact(
            conn,
            client_id,
            {
                "first_name": "Sue",
                "last_name": "Sub",
                "email": "sue@example.com",
                "sub_account": True,
                "password": PASSWORD,
            },
            staff_id=None,
            may_grant_access=False,
        )
    assert field_errors(refused.value) == {("sub_account", FORBIDDEN), ("password", FORBIDDEN)}
    assert await table_state(conn) == before


async def test_2_4_without_may_grant_access_a_plain_contact_is_still_managed(
    conn: asyncpg.Connection, client_id: int
) -> None:
    """Access rules are about logins: a plain contact's email and existence are not."""
    plain = await add_plain_contact(conn, client_id)

    changed = await update(conn, plain, by_holder=False, email="moved@example.com")
    await services.delete_contact(
        conn, plain.id, staff_id=None, client_scope=client_id, may_grant_access=False
    )

    assert changed.email == "moved@example.com"
    assert await services.get_contact(conn, plain.id) is None


async def test_2_4_without_may_grant_access_a_sub_account_is_not_deleted(
    conn: asyncpg.Connection, client_id: int
) -> None:
    sub = await add_sub_account(conn, client_id)
    before = await table_state(conn)

    with pytest.raises(DomainError) as refused:
        await services.delete_contact(
            conn, sub.id, staff_id=None, client_scope=client_id, may_grant_access=False
        )

    assert field_errors(refused.value) == {("id", FORBIDDEN)}
    assert await table_state(conn) == before


async def test_2_4_a_sub_account_cannot_change_the_account_holders_login_email(
    conn: asyncpg.Connection, client_id: int
) -> None:
    before = await table_state(conn)

    with pytest.raises(DomainError) as refused:
        await login_email.update_own_profile(
            conn,
            client_id,
            {"email": "mallory@example.com"},
            current_password=None,
            may_change_login_email=False,
            client_area_url="https://clients.example.com",
        )
    assert field_errors(refused.value) == {("email", FORBIDDEN)}
    assert await table_state(conn) == before

    # The same address in another case, and any other field, are no change of login.
    kept = await login_email.update_own_profile(
        conn,
        client_id,
        {"email": "OWNER@example.com", "company_name": "Demo"},
        current_password=None,
        may_change_login_email=False,
        client_area_url="https://clients.example.com",
    )
    assert (kept.client.email, kept.client.company_name) == ("OWNER@example.com", "Demo")


# --- a sub-account's email is unique among logins, also under concurrency -----------------------


@pytest.mark.parametrize("way", ["add", "turn-on"])
async def test_2_4_two_requests_racing_for_one_login_email_get_one_conflict(
    pool: asyncpg.Pool, conn: asyncpg.Connection, way: str
) -> None:
    """Both check the email before either has stored it: the loser gets CONFLICT (not an
    internal error) and leaves nothing behind."""
    clients = [await add_client(conn, f"owner{i}@example.com") for i in range(2)]
    plains = [await add_plain_contact(conn, c, "race@example.com") for c in clients]

    async def claim(i: int) -> Contact:
        async with pool.acquire() as own:
            if way == "add":
                return await services.add_contact(
                    own,
                    clients[i],
                    {
                        "first_name": "Rae",
                        "last_name": "Race",
                        "email": "RACE@example.com",
                        "sub_account": True,
                        "password": PASSWORD,
                    },
                    staff_id=None,
                    may_grant_access=True,
                )
            return await update(own, plains[i], sub_account=True, password=PASSWORD)

    results = await asyncio.gather(claim(0), claim(1), return_exceptions=True)

    won = [r for r in results if isinstance(r, Contact)]
    lost = [r for r in results if not isinstance(r, Contact)]
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], DomainError), lost
    assert field_errors(lost[0]) == {("email", ErrorCode.CONFLICT)}
    assert await conn.fetchval("SELECT count(*) FROM logins WHERE email = 'race@example.com'") == 1
    assert await conn.fetchval("SELECT count(*) FROM contacts WHERE login_id IS NOT NULL") == 1
