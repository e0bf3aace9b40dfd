"""SPEC 2.4 (with 5.2's token rules) on the domain: sub-account invitations. A sub-account
made from the client area, or by staff without a password, has no login until the emailed
link is accepted; the link is a one-time token stored as a hash, valid 72 hours, voided by a
newer one, by turning the sub-account off, deleting the contact or changing its address.

Through the API, the worker and SMTP: tests/api/test_invitations.py.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import asyncpg
import pytest

from domain.auth import passwords, resets
from domain.contacts import invitations, services
from domain.contacts.models import Contact
from domain.errors import DomainError, ErrorCode
from tests.domain.test_sub_accounts import add_client, add_plain_contact, field_errors, login_of

URL = "https://clients.example.com"
PASSWORD = "invited-password-1"


@pytest.fixture
async def client_id(conn: asyncpg.Connection) -> int:
    return await add_client(conn)


async def invite(
    conn: asyncpg.Connection, client_id: int, email: str = "ivy@example.com", **more: Any
) -> Contact:
    """What the account holder's addMyContact with subAccount does."""
    return await services.add_contact(
        conn,
        client_id,
        {"first_name": "Ivy", "last_name": "Invited", "email": email, "sub_account": True, **more},
        staff_id=None,
        may_grant_access=True,
        client_area=True,
        client_area_url=URL,
    )


async def update(
    conn: asyncpg.Connection, contact: Contact, *, by_holder: bool = True, **values: Any
) -> Contact:
    """What updateMyContact does, by the account holder or by a sub-account."""
    return await services.update_contact(
        conn,
        contact.id,
        values,
        staff_id=None,
        may_grant_access=by_holder,
        client_scope=contact.client_id,
        client_area=True,
        client_area_url=URL,
    )


async def tokens(conn: asyncpg.Connection) -> list[str]:
    """The tokens of the invitation emails queued so far, oldest first."""
    rows = await conn.fetch(
        "SELECT context FROM emails WHERE template = 'sub_account_invitation' ORDER BY id"
    )
    return [row["context"]["secret"]["token"] for row in rows]


async def accept(conn: asyncpg.Connection, token: str, password: str = PASSWORD) -> None:
    await invitations.accept_invitation(conn, token, password)


async def refused(conn: asyncpg.Connection, token: str, password: str = PASSWORD) -> Any:
    with pytest.raises(DomainError) as error:
        await accept(conn, token, password)
    return field_errors(error.value)


INVALID_TOKEN = {("token", ErrorCode.INVALID)}


async def test_2_4_5_2_an_invitation_is_stored_as_a_hash_and_makes_the_login_once(
    conn: asyncpg.Connection, client_id: int
) -> None:
    contact = await invite(conn, client_id, permissions=["INVOICES"])
    assert contact.sub_account and contact.invitation_pending and contact.login_id is None
    [token] = await tokens(conn)
    stored = await conn.fetchrow(
        "SELECT token_hash, expires_at - created_at AS ttl, purpose FROM password_tokens"
    )
    assert stored["token_hash"] == hashlib.sha256(token.encode()).digest()
    assert (stored["ttl"].total_seconds(), stored["purpose"]) == (72 * 3600, "INVITATION")
    assert await conn.fetchval("SELECT count(*) FROM logins WHERE email = 'ivy@example.com'") == 0

    await accept(conn, token)

    after = await services.get_contact(conn, contact.id)
    assert after is not None and after.sub_account and not after.invitation_pending
    login = await login_of(conn, contact.id)
    assert login is not None and login["email"] == "ivy@example.com"
    assert await passwords.verify_password(login["password_hash"], PASSWORD)
    assert await refused(conn, token, "another-password-2") == INVALID_TOKEN
    audited = await conn.fetch(
        "SELECT action, changes FROM audit_log WHERE action LIKE 'contact.%' ORDER BY id"
    )
    assert [a["action"] for a in audited] == ["contact.added", "contact.invitation_accepted"]
    assert token not in str([dict(a) for a in audited]) and PASSWORD not in str(audited)


async def test_2_4_5_2_two_concurrent_acceptances_make_one_login(
    conn: asyncpg.Connection, pool: asyncpg.Pool, client_id: int
) -> None:
    contact = await invite(conn, client_id)
    [token] = await tokens(conn)

    async def attempt(password: str) -> ErrorCode | None:
        async with pool.acquire() as own:
            try:
                await accept(own, token, password)
            except DomainError as error:
                return error.errors[0].code
        return None

    outcomes = await asyncio.gather(attempt("first-password"), attempt("second-password"))

    assert sorted(outcomes, key=str) == [ErrorCode.INVALID, None]
    winner = "first-password" if outcomes[0] is None else "second-password"
    login = await login_of(conn, contact.id)
    assert login is not None and await passwords.verify_password(login["password_hash"], winner)


async def test_2_4_5_2_an_expired_invitation_is_refused(
    conn: asyncpg.Connection, client_id: int
) -> None:
    contact = await invite(conn, client_id)
    [token] = await tokens(conn)
    await conn.execute("UPDATE password_tokens SET expires_at = now() - interval '1 second'")

    assert await refused(conn, token) == INVALID_TOKEN
    assert await login_of(conn, contact.id) is None


async def test_2_4_a_refused_password_or_a_taken_address_leaves_the_invitation_live(
    conn: asyncpg.Connection, client_id: int
) -> None:
    """And the address is checked before the password is hashed."""
    contact = await invite(conn, client_id)
    [token] = await tokens(conn)
    assert await refused(conn, token, "short") == {("password", ErrorCode.INVALID)}
    taken = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ('IVY@example.com') RETURNING id"
    )
    assert await refused(conn, token) == {("token", ErrorCode.CONFLICT)}
    assert await conn.fetchval("SELECT password_hash FROM logins WHERE id = $1", taken) is None

    await conn.execute("DELETE FROM logins WHERE id = $1", taken)
    await accept(conn, token)
    assert await login_of(conn, contact.id) is not None


async def test_1_3_2_4_an_invitation_of_a_closed_account_makes_no_login_until_reopened(
    conn: asyncpg.Connection, client_id: int
) -> None:
    contact = await invite(conn, client_id)
    [token] = await tokens(conn)
    await conn.execute("UPDATE clients SET status = 'CLOSED' WHERE id = $1", client_id)

    assert await refused(conn, token) == {("token", ErrorCode.ACCOUNT_CLOSED)}
    assert await login_of(conn, contact.id) is None

    await conn.execute("UPDATE clients SET status = 'ACTIVE' WHERE id = $1", client_id)
    await accept(conn, token)
    assert await login_of(conn, contact.id) is not None


async def test_2_4_turning_sub_account_on_again_sends_a_new_link_and_voids_the_old(
    conn: asyncpg.Connection, client_id: int
) -> None:
    contact = await invite(conn, client_id)
    await update(conn, contact, first_name="Ivana")  # no new invitation for another change
    assert len(await tokens(conn)) == 1
    await update(conn, contact, sub_account=True)
    old, new = await tokens(conn)

    assert await refused(conn, old) == INVALID_TOKEN
    await accept(conn, new)
    assert await login_of(conn, contact.id) is not None


WITHDRAWALS = {
    "sub-account-off": lambda conn, contact: update(conn, contact, sub_account=False),
    "contact-deleted": lambda conn, contact: services.delete_contact(
        conn, contact.id, staff_id=None, client_scope=contact.client_id
    ),
    "address-changed": lambda conn, contact: update(conn, contact, email="new@example.com"),
}


@pytest.mark.parametrize("withdrawal", WITHDRAWALS)
async def test_2_4_turning_off_deleting_or_moving_a_sub_account_voids_its_invitation(
    conn: asyncpg.Connection, client_id: int, withdrawal: str
) -> None:
    contact = await invite(conn, client_id)
    [token] = await tokens(conn)

    await WITHDRAWALS[withdrawal](conn, contact)

    assert await refused(conn, token) == INVALID_TOKEN
    assert await conn.fetchval("SELECT count(*) FROM logins WHERE email LIKE 'ivy%'") == 0
    after = await services.get_contact(conn, contact.id)
    if withdrawal == "sub-account-off":
        assert after is not None and not after.sub_account and not after.invitation_pending
    if withdrawal == "address-changed":
        # The new address is invited in its place.
        assert after is not None and after.invitation_pending
        [_, new_token] = await tokens(conn)
        await accept(conn, new_token)
        assert (await login_of(conn, contact.id) or {})["email"] == "new@example.com"


async def test_2_4_a_sub_account_cannot_move_turn_off_or_delete_an_invitation(
    conn: asyncpg.Connection, client_id: int
) -> None:
    """Even with CONTACTS: a pending invitation is a sub-account like one with a login."""
    contact = await invite(conn, client_id)
    [token] = await tokens(conn)
    attempts = {
        "email": lambda: update(conn, contact, by_holder=False, email="mallory@example.com"),
        "sub_account": lambda: update(conn, contact, by_holder=False, sub_account=False),
        "id": lambda: services.delete_contact(
            conn,
            contact.id,
            staff_id=None,
            client_scope=contact.client_id,
            may_grant_access=False,
        ),
    }
    for field, attempt in attempts.items():
        with pytest.raises(DomainError) as error:
            await attempt()
        assert field_errors(error.value) == {(field, ErrorCode.FORBIDDEN)}

    await accept(conn, token)
    assert (await login_of(conn, contact.id) or {})["email"] == "ivy@example.com"


async def test_2_4_from_the_client_area_a_password_is_refused_and_invitations_replace_it(
    conn: asyncpg.Connection, client_id: int
) -> None:
    plain = await add_plain_contact(conn, client_id)
    with pytest.raises(DomainError) as on_add:
        await invite(conn, client_id, password=PASSWORD)
    with pytest.raises(DomainError) as on_update:
        await update(conn, plain, sub_account=True, password=PASSWORD)

    for error in (on_add.value, on_update.value):
        assert field_errors(error) == {("password", ErrorCode.FORBIDDEN)}
        assert "invitation" in error.errors[0].message
    assert await tokens(conn) == []


async def test_2_4_a_new_address_for_a_sub_account_with_a_login_is_invited_as_a_new_login(
    conn: asyncpg.Connection, client_id: int
) -> None:
    contact = await invite(conn, client_id)
    [token] = await tokens(conn)
    await accept(conn, token)
    accepted = await services.get_contact(conn, contact.id)
    assert accepted is not None and accepted.login_id is not None

    moved = await update(conn, accepted, email="ivy.new@example.com")

    assert moved.login_id is None and moved.invitation_pending
    assert await conn.fetchval("SELECT count(*) FROM logins WHERE id = $1", accepted.login_id) == 0
    assert len(await tokens(conn)) == 2


async def test_2_4_staff_give_an_invited_sub_account_a_password_instead(
    conn: asyncpg.Connection, client_id: int
) -> None:
    contact = await invite(conn, client_id)
    [token] = await tokens(conn)
    with pytest.raises(DomainError) as no_login:
        await resets.set_account_password(
            conn, client_id=None, contact_id=contact.id, password=PASSWORD, staff_id=None
        )
    assert field_errors(no_login.value) == {("contact_id", ErrorCode.NOT_FOUND)}

    given = await services.update_contact(
        conn, contact.id, {"password": PASSWORD}, staff_id=None, may_grant_access=True
    )

    assert given.login_id is not None and not given.invitation_pending
    assert await refused(conn, token) == INVALID_TOKEN


async def test_2_4_an_account_sends_a_limited_number_of_invitations_an_hour(
    conn: asyncpg.Connection, client_id: int
) -> None:
    await conn.execute(
        """INSERT INTO emails (client_id, template, category, to_address)
           SELECT $1, 'sub_account_invitation', 'ACCOUNT', 'x' || n || '@example.com'
             FROM generate_series(1, $2) n""",
        client_id,
        invitations.INVITATIONS_PER_HOUR - 1,
    )
    await invite(conn, client_id, "last@example.com")

    with pytest.raises(DomainError) as error:
        await invite(conn, client_id, "one-too-many@example.com")

    assert field_errors(error.value) == {("sub_account", ErrorCode.TOO_MANY_ATTEMPTS)}
    assert not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE email = 'one-too-many@example.com')"
    )
    await conn.execute("UPDATE emails SET created_at = now() - interval '61 minutes'")
    assert (await invite(conn, client_id, "one-too-many@example.com")).invitation_pending
