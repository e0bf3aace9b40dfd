"""Forgotten passwords and staff password actions (SPEC 5.2, 5.3), on the domain directly."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from domain.auth import passwords, resets, sessions
from domain.clients import services as client_services
from domain.errors import DomainError, ErrorCode
from domain.settings import PasswordResetMode, update_general_settings

URL = "https://example.com/clientarea"
PASSWORD = "old-password-1"
PASSWORD_HASH = passwords.hash_password_blocking(PASSWORD)
TTL = timedelta(hours=1)


async def add_client(conn: asyncpg.Connection, email: str = "joe@example.com") -> Any:
    client = await client_services.add_client(
        conn,
        {"first_name": "Joe", "last_name": "Bloggs", "email": email},
        password=None,
        staff_id=None,
        send_welcome_email=False,
        client_area_url=URL,
    )
    await conn.execute(
        "UPDATE logins SET password_hash = $2 WHERE id = $1", client.owner_login_id, PASSWORD_HASH
    )
    return client


async def add_sub_account(conn: asyncpg.Connection, client_id: int) -> tuple[int, int]:
    """A sub-account of the client; returns (contact id, login id)."""
    login_id = await conn.fetchval(
        "INSERT INTO logins (email, password_hash) VALUES ('sub@example.com', $1) RETURNING id",
        PASSWORD_HASH,
    )
    contact_id = await conn.fetchval(
        """INSERT INTO contacts (client_id, login_id, first_name, last_name, email)
           VALUES ($1, $2, 'Sue', 'Sub', 'sub@example.com') RETURNING id""",
        client_id,
        login_id,
    )
    return contact_id, login_id


async def emails(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT template, to_address, context FROM emails ORDER BY id")


async def password_hash(conn: asyncpg.Connection, login_id: int) -> str:
    value: str = await conn.fetchval("SELECT password_hash FROM logins WHERE id = $1", login_id)
    return value


async def request_reset(conn: asyncpg.Connection, email: str) -> None:
    """Ask for a reset of `email` and answer the request as a worker does."""
    await resets.request_password_reset(conn, email)
    await resets.answer_reset_requests(conn, client_area_url=URL)


async def requested_token(conn: asyncpg.Connection, email: str = "joe@example.com") -> str:
    """Ask for a reset of `email` and return the token its email carries."""
    await request_reset(conn, email)
    token: str = (await emails(conn))[-1]["context"]["secret"]["token"]
    return token


async def confirm(
    conn: asyncpg.Connection, token: str, new_password: str | None, **kw: Any
) -> None:
    await resets.confirm_password_reset(conn, token, new_password, client_area_url=URL, **kw)


def error_code(error: pytest.ExceptionInfo[DomainError]) -> tuple[str | None, ErrorCode]:
    [only] = error.value.errors
    return only.field, only.code


async def test_5_2_a_reset_link_is_emailed_and_only_its_token_hash_is_stored(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    token = await requested_token(conn, "JOE@example.com")

    [email] = await emails(conn)
    assert (email["template"], email["to_address"]) == ("password_reset_validation", client.email)
    assert len(token) >= 43  # 256 bits from `secrets`
    [stored] = await conn.fetch("SELECT * FROM password_tokens")
    assert stored["token_hash"] == hashlib.sha256(token.encode()).digest()
    assert stored["expires_at"] - stored["created_at"] == timedelta(hours=2)
    assert token not in str(dict(stored))


async def test_5_2_ignoring_the_email_changes_nothing(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    session = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    await requested_token(conn)
    assert await password_hash(conn, client.owner_login_id) == PASSWORD_HASH
    assert await sessions.viewer_for_token(conn, session) is not None


async def test_5_2_unknown_and_closed_accounts_get_no_email(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    await conn.execute("UPDATE clients SET status = 'CLOSED' WHERE id = $1", client.id)
    for email in ("joe@example.com", "nobody@example.com", "\u0130nvalid@example.com", ""):
        await request_reset(conn, email)
    assert await emails(conn) == []
    assert await conn.fetchval("SELECT count(*) FROM password_tokens") == 0


async def test_5_2_a_reset_token_works_once(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    token = await requested_token(conn)

    await confirm(conn, token, "new-password-1")
    new_hash = await password_hash(conn, client.owner_login_id)
    assert await passwords.verify_password(new_hash, "new-password-1")
    with pytest.raises(DomainError) as refused:
        await confirm(conn, token, "new-password-2")
    assert error_code(refused) == ("token", ErrorCode.INVALID)
    assert await password_hash(conn, client.owner_login_id) == new_hash


async def test_5_2_two_concurrent_redemptions_give_one_success(
    conn: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    client = await add_client(conn)
    token = await requested_token(conn)

    async def redeem(password: str) -> str | None:
        async with pool.acquire() as own:
            try:
                await confirm(own, token, password)
            except DomainError as error:
                return error.errors[0].code
        return None

    outcomes = await asyncio.gather(redeem("first-password"), redeem("second-password"))

    assert sorted(outcomes, key=str) == [ErrorCode.INVALID, None]
    winner = "first-password" if outcomes[0] is None else "second-password"
    assert await passwords.verify_password(await password_hash(conn, client.owner_login_id), winner)


async def test_5_2_an_expired_token_is_refused(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    token = await requested_token(conn)
    await conn.execute("UPDATE password_tokens SET expires_at = now() - interval '1 second'")
    with pytest.raises(DomainError) as refused:
        await confirm(conn, token, "new-password-1")
    assert error_code(refused) == ("token", ErrorCode.INVALID)
    assert await password_hash(conn, client.owner_login_id) == PASSWORD_HASH


async def test_5_2_only_the_newest_link_works(conn: asyncpg.Connection) -> None:
    await add_client(conn)
    first = await requested_token(conn)
    second = await requested_token(conn)
    with pytest.raises(DomainError):
        await confirm(conn, first, "new-password-1")
    await confirm(conn, second, "new-password-1")


async def test_5_2_a_reset_ends_every_other_session_of_the_login(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    other = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    current = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    viewer = await sessions.viewer_for_token(conn, current)
    assert viewer is not None
    token = await requested_token(conn)

    await confirm(conn, token, "new-password-1", keep_session_id=viewer.session_id)

    assert await sessions.viewer_for_token(conn, other) is None
    assert await sessions.viewer_for_token(conn, current) is not None


async def test_5_2_choose_password_mode_needs_a_valid_new_password_and_keeps_the_token(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    token = await requested_token(conn)
    for refused_password, code in ((None, ErrorCode.REQUIRED), ("short", ErrorCode.INVALID)):
        with pytest.raises(DomainError) as refused:
            await confirm(conn, token, refused_password)
        assert error_code(refused) == ("new_password", code)
    assert await password_hash(conn, client.owner_login_id) == PASSWORD_HASH
    await confirm(conn, token, "new-password-1")  # the refusals left it live


async def test_5_2_email_random_mode_sets_a_random_password_and_emails_it(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    session = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    await update_general_settings(conn, password_reset_mode=PasswordResetMode.EMAIL_RANDOM)
    token = await requested_token(conn)
    with pytest.raises(DomainError) as refused:
        await confirm(conn, token, "chosen-password")
    assert error_code(refused) == ("new_password", ErrorCode.INVALID)

    await confirm(conn, token, None)

    confirmation = (await emails(conn))[-1]
    assert confirmation["template"] == "password_reset_confirmation"
    new_password = confirmation["context"]["secret"]["password"]
    assert await passwords.verify_password(
        await password_hash(conn, client.owner_login_id), new_password
    )
    assert await sessions.viewer_for_token(conn, session) is None


async def test_5_2_a_sub_account_resets_its_own_password(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    _, login_id = await add_sub_account(conn, client.id)
    token = await requested_token(conn, "sub@example.com")
    await confirm(conn, token, "new-password-1")
    assert await passwords.verify_password(await password_hash(conn, login_id), "new-password-1")
    assert await password_hash(conn, client.owner_login_id) == PASSWORD_HASH


@pytest.mark.parametrize("whose", ["client", "sub_account"])
async def test_5_3_staff_reset_and_send_in_email_random_mode_emails_a_new_password(
    conn: asyncpg.Connection, whose: str
) -> None:
    client = await add_client(conn)
    contact_id, sub_login = await add_sub_account(conn, client.id)
    target = {"client_id": client.id, "contact_id": None}
    login_id, address = client.owner_login_id, "joe@example.com"
    if whose == "sub_account":
        target = {"client_id": None, "contact_id": contact_id}
        login_id, address = sub_login, "sub@example.com"
    session = await sessions.start_session(conn, login_id, ttl=TTL)
    await update_general_settings(conn, password_reset_mode=PasswordResetMode.EMAIL_RANDOM)

    await resets.reset_and_send_password(conn, **target, staff_id=None, client_area_url=URL)

    [email] = await emails(conn)
    assert (email["template"], email["to_address"]) == ("automated_password_reset", address)
    new_password = email["context"]["secret"]["password"]
    assert await passwords.verify_password(await password_hash(conn, login_id), new_password)
    assert await sessions.viewer_for_token(conn, session) is None
    [entry] = await conn.fetch(
        "SELECT action, client_id, changes FROM audit_log WHERE action LIKE 'client.password%'"
    )
    assert (entry["action"], entry["client_id"]) == ("client.password_reset_sent", client.id)
    assert new_password not in str(entry["changes"])


async def test_5_3_staff_reset_and_send_in_choose_password_mode_emails_a_link(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    session = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)

    await resets.reset_and_send_password(
        conn, client_id=client.id, contact_id=None, staff_id=None, client_area_url=URL
    )

    [email] = await emails(conn)
    assert email["template"] == "automated_password_reset"
    assert set(email["context"]["secret"]) == {"token"}
    # Nothing changes until the link is followed.
    assert await password_hash(conn, client.owner_login_id) == PASSWORD_HASH
    assert await sessions.viewer_for_token(conn, session) is not None
    await confirm(conn, email["context"]["secret"]["token"], "new-password-1")
    assert await sessions.viewer_for_token(conn, session) is None


async def test_5_3_staff_set_a_specific_password_audited_without_it(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    contact_id, sub_login = await add_sub_account(conn, client.id)
    session = await sessions.start_session(conn, sub_login, ttl=TTL)

    await resets.set_account_password(
        conn, client_id=None, contact_id=contact_id, password="staff-chosen-1", staff_id=None
    )

    assert await passwords.verify_password(await password_hash(conn, sub_login), "staff-chosen-1")
    assert await sessions.viewer_for_token(conn, session) is None
    [entry] = await conn.fetch(
        "SELECT action, changes FROM audit_log WHERE action LIKE 'client.password%'"
    )
    assert entry["action"] == "client.password_set"
    assert "staff-chosen-1" not in str(entry["changes"])


async def test_5_3_staff_password_actions_need_exactly_one_existing_login(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    plain = await conn.fetchval(
        """INSERT INTO contacts (client_id, first_name, last_name, email)
           VALUES ($1, 'Plain', 'Contact', 'plain@example.com') RETURNING id""",
        client.id,
    )
    for target, field in [
        ({"client_id": client.id, "contact_id": plain}, "client_id"),
        ({"client_id": None, "contact_id": None}, "client_id"),
        ({"client_id": None, "contact_id": plain}, "contact_id"),
        ({"client_id": client.id + 1, "contact_id": None}, "client_id"),
    ]:
        with pytest.raises(DomainError) as refused:
            await resets.set_account_password(
                conn, **target, password="staff-chosen-1", staff_id=None
            )
        assert error_code(refused)[0] == field
    assert await password_hash(conn, client.owner_login_id) == PASSWORD_HASH
