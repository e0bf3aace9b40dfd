"""Text and email addresses that would poison later work: control characters in single-line
fields (they end up in email headers), text no column can store, addresses no mail server
takes, and spellings of one address that the login throttle told apart (SPEC 1.2, 2.1, 5.4)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from redis.asyncio import Redis

from domain.auth import passwords
from domain.auth.login import LoginRequest, log_in
from domain.auth.throttle import LoginThrottle
from domain.clients import services as client_services
from domain.contacts import services as contact_services
from domain.errors import DomainError, ErrorCode
from domain.validation import InputCheck, normalize_email, storable_text
from tests.conftest import Services

PASSWORD = "correct-horse-1"
PASSWORD_HASH = passwords.hash_password_blocking(PASSWORD)
MAX_FAILURES = 4
INJECTION = "Joe\r\nBcc: x@evil.example"


def field_errors(error: DomainError) -> set[tuple[str | None, ErrorCode]]:
    return {(e.field, e.code) for e in error.errors}


async def add_client(conn: asyncpg.Connection, email: str, **values: str) -> int:
    client = await client_services.add_client(
        conn,
        {"first_name": "Joe", "last_name": "Bloggs", "email": email, **values},
        password=None,
        staff_id=None,
        send_welcome_email=False,
        client_area_url="http://127.0.0.1:8000",
    )
    return client.id


# --- single-line text, notes, storable text ---------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [INJECTION, "Joe\nBloggs", "Joe\rBloggs", "Jo\x00e", "Jo\x1be", "Jo\x85e", "Jo\u2028e", "J\te"],
    ids=["crlf-header", "lf", "cr", "nul", "escape", "c1-next-line", "line-separator", "tab"],
)
@pytest.mark.parametrize(
    "field", ["first_name", "last_name", "company_name", "address1", "city", "postcode"]
)
def test_1_2_single_line_fields_refuse_control_characters(field: str, value: str) -> None:
    check = InputCheck()
    if field in ("first_name", "last_name"):
        check.required_text(field, value, "Name")
    else:
        check.optional_text(field, value, "Text")
    assert [(e.field, e.code) for e in check.errors] == [(field, ErrorCode.INVALID)]


def test_1_2_notes_keep_line_breaks_and_tabs_but_no_other_control_characters() -> None:
    check = InputCheck()
    notes = "Called on Monday.\r\n\tWill pay by Friday.\nOK"
    assert check.optional_text("notes", notes, "Notes", multiline=True) == notes
    assert check.errors == []
    for value in ("bell\x07", "nul\x00", "escape\x1b[31m", "lone \ud800 surrogate"):
        check = InputCheck()
        check.optional_text("notes", value, "Notes", multiline=True)
        assert [(e.field, e.code) for e in check.errors] == [("notes", ErrorCode.INVALID)]


def test_text_a_column_cannot_store_is_told_apart() -> None:
    assert storable_text("Zoë Ἀθηνᾶ 🐘\n\t")
    assert not storable_text("a\x00b")
    assert not storable_text("a\ud800b")
    assert not storable_text("\udfff")


async def test_1_2_a_header_injection_in_a_name_is_refused_and_nothing_changes(
    conn: asyncpg.Connection,
) -> None:
    client_id = await add_client(conn, "joe@example.com")
    with pytest.raises(DomainError) as refused:
        await add_client(conn, "other@example.com", first_name=INJECTION)
    assert field_errors(refused.value) == {("first_name", ErrorCode.INVALID)}
    with pytest.raises(DomainError) as refused:
        await client_services.update_client(
            conn, client_id, {"last_name": INJECTION, "city": "Leeds\n"}, staff_id=None
        )
    # A trailing line break is trimmed like any surrounding space; one inside is refused.
    assert field_errors(refused.value) == {("last_name", ErrorCode.INVALID)}
    assert await conn.fetchval("SELECT count(*) FROM clients") == 1
    assert await conn.fetchval("SELECT last_name FROM clients") == "Bloggs"


async def test_2_1_a_contact_name_with_a_line_break_is_refused(conn: asyncpg.Connection) -> None:
    client_id = await add_client(conn, "joe@example.com")
    with pytest.raises(DomainError) as refused:
        await contact_services.add_contact(
            conn,
            client_id,
            {"first_name": INJECTION, "last_name": "Bloggs", "email": "jane@example.com"},
            staff_id=None,
            may_grant_access=True,
        )
    assert field_errors(refused.value) == {("first_name", ErrorCode.INVALID)}
    assert await conn.fetchval("SELECT count(*) FROM contacts") == 0


async def test_1_2_currency_and_gateway_names_no_column_can_store_are_invalid(
    conn: asyncpg.Connection,
) -> None:
    client_id = await add_client(conn, "joe@example.com")
    with pytest.raises(DomainError) as refused:
        await client_services.update_client(
            conn,
            client_id,
            {"currency": "US\x00D", "default_payment_method": "bank\ud800"},
            staff_id=None,
        )
    assert field_errors(refused.value) == {
        ("currency", ErrorCode.INVALID),
        ("default_payment_method", ErrorCode.INVALID),
    }


# --- addresses that cannot be sent ------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["jöe@example.com", "ジョー@example.com", "vİctim@example.com", "joe\r\n@example.com"],
)
def test_1_2_addresses_that_need_smtputf8_are_refused(address: str) -> None:
    check = InputCheck()
    check.email("email", address)
    assert [(e.field, e.code) for e in check.errors] == [("email", ErrorCode.INVALID)]


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("joe@exämple.com", "joe@xn--exmple-cua.com"),
        ("Joe@EXÄMPLE.com", "Joe@xn--exmple-cua.com"),
        ("Joe.Bloggs@Example.COM", "Joe.Bloggs@example.com"),
        ("  joe@例え.jp ", "joe@xn--r8jz45g.jp"),
    ],
)
def test_1_2_internationalised_domains_are_stored_in_their_ascii_form(
    typed: str, stored: str
) -> None:
    check = InputCheck()
    assert check.email("email", typed) == stored
    assert check.errors == []


# --- one address, one form: storage, lookup, throttle -----------------------------------------


@pytest.mark.parametrize(
    ("spellings", "same"),
    [
        (["victim@example.com", "VICTIM@EXAMPLE.COM", " Victim@Example.com\t"], True),
        (["joe@exämple.com", "JOE@EXÄMPLE.COM", "joe@xn--exmple-cua.com"], True),
        (["victim@example.com", "vİctim@example.com"], False),
        (["victim@example.com", "vıctim@example.com"], False),  # dotless ı
        (["victim@example.com", "victim@example.com\x00"], False),
    ],
    ids=["case-and-space", "idna", "dotted-capital-i", "dotless-i", "nul"],
)
def test_5_4_email_spellings_normalise_to_one_form_exactly_when_one_address(
    spellings: list[str], same: bool
) -> None:
    forms = {normalize_email(s) for s in spellings}
    assert (len(forms) == 1) is same


@pytest.fixture
async def redis(services: Services) -> AsyncIterator[Redis]:
    client = Redis.from_url(services.redis_url)
    yield client
    await client.aclose()


async def attempt(
    pool: asyncpg.Pool, throttle: LoginThrottle, email: str, password: str
) -> ErrorCode | None:
    request = LoginRequest(email, password, ip_address=None)
    try:
        await log_in(pool, throttle, request, session_ttl=timedelta(hours=1))
    except DomainError as error:
        return error.errors[0].code
    return None


async def test_5_4_unicode_spellings_neither_reach_the_account_nor_widen_its_guess_budget(
    conn: asyncpg.Connection, pool: asyncpg.Pool, redis: Redis
) -> None:
    """`vİctim@…` matched `victim@…` in PostgreSQL (citext folds İ to i) but had a counter of
    its own in Python, so every `i` of an address doubled the guesses allowed."""
    throttle = LoginThrottle(redis, max_failures=MAX_FAILURES, cooldown_seconds=60)
    await add_client(conn, "victim@example.com")
    await conn.execute("UPDATE logins SET password_hash = $1", PASSWORD_HASH)

    for spelling in ("vİctim@example.com", "victİm@example.com", "vİctİm@example.com"):
        assert await attempt(pool, throttle, spelling, PASSWORD) is ErrorCode.INVALID_CREDENTIALS
    # Every spelling that does reach the account draws on one budget.
    for spelling in ("victim@example.com", "VICTIM@example.com", " Victim@EXAMPLE.com"):
        assert await attempt(pool, throttle, spelling, "wrong") is ErrorCode.INVALID_CREDENTIALS
    assert await attempt(pool, throttle, "victim@Example.COM", "wrong") is not None
    assert await attempt(pool, throttle, "victim@example.com", PASSWORD) is (
        ErrorCode.TOO_MANY_ATTEMPTS
    )
    assert await conn.fetchval("SELECT count(*) FROM sessions") == 0


async def test_5_1_an_internationalised_domain_logs_in_however_it_is_typed(
    conn: asyncpg.Connection, pool: asyncpg.Pool, redis: Redis
) -> None:
    throttle = LoginThrottle(redis, max_failures=MAX_FAILURES, cooldown_seconds=60)
    await add_client(conn, "joe@exämple.com")
    await conn.execute("UPDATE logins SET password_hash = $1", PASSWORD_HASH)
    assert await conn.fetchval("SELECT email::text FROM logins") == "joe@xn--exmple-cua.com"
    for typed in ("joe@exämple.com", "JOE@EXÄMPLE.COM", "joe@xn--exmple-cua.com"):
        assert await attempt(pool, throttle, typed, PASSWORD) is None
