"""SPEC 2.1, 2.2, 2.5 and 8.3 at the domain layer: contact use cases and contact copies of
client emails, on a real database."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import asyncpg
import pytest

from domain.clients import queries
from domain.contacts import services
from domain.contacts.models import PREFERENCE_CATEGORIES, Contact
from domain.emails.outbox import queue_client_email
from domain.emails.templates import TEMPLATES, EmailCategory
from domain.errors import DomainError, ErrorCode
from tests.conftest import add_client

REQUIRED = ErrorCode.REQUIRED
INVALID = ErrorCode.INVALID
NOT_FOUND = ErrorCode.NOT_FOUND
ALL_CATEGORIES = {c.value: True for c in PREFERENCE_CATEGORIES}
# What a contact change may touch; "nothing changed" means all of it is as it was.
STATE_TABLES = ("clients", "contacts", "logins", "emails", "audit_log")


async def table_state(conn: asyncpg.Connection) -> dict[str, list[dict[str, Any]]]:
    return {
        table: [dict(row) for row in await conn.fetch(f"SELECT * FROM {table} ORDER BY id")]
        for table in STATE_TABLES
    }


async def add_contact(
    conn: asyncpg.Connection, client_id: int, email: str = "jane@example.com", **values: Any
) -> Contact:
    """A contact (Jane Doe unless told otherwise), added by staff."""
    return await services.add_contact(
        conn,
        client_id,
        {"first_name": "Jane", "last_name": "Doe", "email": email, **values},
        staff_id=None,
        may_grant_access=True,
    )


async def update_contact(
    conn: asyncpg.Connection, contact_id: int, client_scope: int | None = None, **values: Any
) -> Contact:
    return await services.update_contact(
        conn,
        contact_id,
        values,
        staff_id=None,
        may_grant_access=True,
        client_scope=client_scope,
    )


def field_errors(error: DomainError) -> set[tuple[str | None, ErrorCode]]:
    return {(e.field, e.code) for e in error.errors}


def ticked(*categories: EmailCategory) -> frozenset[EmailCategory]:
    return frozenset(categories)


async def billing_contact_id(conn: asyncpg.Connection, client_id: int) -> int | None:
    client = await queries.get_client(conn, client_id)
    assert client is not None
    return client.billing_contact_id


async def outbox_rows(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT client_id, contact_id, template, category, to_address, to_name
             FROM emails ORDER BY id"""
    )
    return [dict(row) for row in rows]


def with_category(monkeypatch: pytest.MonkeyPatch, category: EmailCategory) -> str:
    """Register the Client Signup template file under `category` for this test; its key.

    There is no template of that category yet: the copy rules depend on the category alone.
    """
    monkeypatch.setitem(
        TEMPLATES, "client_signup", replace(TEMPLATES["client_signup"], category=category)
    )
    return "client_signup"


async def queue(conn: asyncpg.Connection, client_id: int, template: str) -> list[int]:
    async with conn.transaction():
        return await queue_client_email(
            conn, client_id, template=template, context=TEMPLATES[template].sample
        )


# --- 2.1 contacts: add, edit, delete ---------------------------------------------------------


async def test_2_1_add_contact_stores_required_and_optional_fields_normalised(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)

    added = await add_contact(
        conn,
        client.id,
        first_name=" Jane ",
        email=" Jane.Doe@Example.COM ",
        company_name="Doe Ltd",
        phone_number="+44 20 7946 0001",
        address1="2 High Street",
        address2="Unit 3",
        city="Leeds",
        state="West Yorkshire",
        postcode="LS1 1AA",
        country="gb",
    )

    assert await services.get_contact(conn, added.id) == added
    assert added.client_id == client.id
    assert (added.first_name, added.last_name, added.email) == (
        "Jane",
        "Doe",
        "Jane.Doe@example.com",
    )
    assert (added.company_name, added.phone_number) == ("Doe Ltd", "+44 20 7946 0001")
    assert (
        added.address1,
        added.address2,
        added.city,
        added.state,
        added.postcode,
        added.country,
    ) == ("2 High Street", "Unit 3", "Leeds", "West Yorkshire", "LS1 1AA", "GB")
    # A plain contact: no login, no permissions, no email copies unless ticked.
    assert added.login_id is None and not added.sub_account
    assert added.permissions == frozenset() and added.email_preferences == frozenset()
    assert await services.contacts_by_client(conn, [client.id]) == {client.id: [added]}


async def test_2_1_optional_fields_may_be_left_out(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)

    added = await add_contact(conn, client.id, company_name="  ", phone_number="")

    assert (added.company_name, added.phone_number, added.address1, added.country) == (
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(
            {"first_name": "", "last_name": "  ", "email": ""},
            {("first_name", REQUIRED), ("last_name", REQUIRED), ("email", REQUIRED)},
            id="all-empty",
        ),
        pytest.param(
            {"first_name": None, "last_name": None, "email": None},
            {("first_name", REQUIRED), ("last_name", REQUIRED), ("email", REQUIRED)},
            id="all-null",
        ),
        pytest.param(
            {"email": "not-an-email", "country": "XX", "phone_number": "call me"},
            {("email", INVALID), ("country", INVALID), ("phone_number", INVALID)},
            id="invalid",
        ),
    ],
)
async def test_2_1_invalid_new_contact_is_refused_per_field_and_nothing_is_stored(
    conn: asyncpg.Connection, values: dict[str, Any], expected: set[tuple[str, ErrorCode]]
) -> None:
    client = await add_client(conn)
    before = await table_state(conn)

    with pytest.raises(DomainError) as refused:
        await add_contact(conn, client.id, **values)

    assert field_errors(refused.value) == expected
    assert await table_state(conn) == before


async def test_2_1_contact_of_an_unknown_client_is_not_found(conn: asyncpg.Connection) -> None:
    before = await table_state(conn)

    with pytest.raises(DomainError) as refused:
        await add_contact(conn, 999_999)

    assert field_errors(refused.value) == {("client_id", NOT_FOUND)}
    assert await table_state(conn) == before


async def test_2_1_update_changes_only_the_given_fields(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    added = await add_contact(conn, client.id, company_name="Doe Ltd", city="Leeds")

    updated = await update_contact(conn, added.id, last_name="Smith", city=None, country="fr")

    assert updated == await services.get_contact(conn, added.id)
    assert updated == replace(
        added, last_name="Smith", city=None, country="FR", updated_at=updated.updated_at
    )
    assert updated.updated_at >= added.updated_at


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(
            {"first_name": "", "last_name": None, "email": " "},
            {("first_name", REQUIRED), ("last_name", REQUIRED), ("email", REQUIRED)},
            id="required-emptied",
        ),
        pytest.param({"city": "York", "email": "nope"}, {("email", INVALID)}, id="one-bad-of-two"),
    ],
)
async def test_2_1_invalid_update_is_refused_per_field_and_nothing_changes(
    conn: asyncpg.Connection, values: dict[str, Any], expected: set[tuple[str, ErrorCode]]
) -> None:
    client = await add_client(conn)
    added = await add_contact(conn, client.id)
    before = await table_state(conn)

    with pytest.raises(DomainError) as refused:
        await update_contact(conn, added.id, **values)

    assert field_errors(refused.value) == expected
    assert await table_state(conn) == before


async def test_2_1_delete_removes_the_contact_and_is_audited(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    kept = await add_contact(conn, client.id, email="kept@example.com")
    gone = await add_contact(conn, client.id, email="gone@example.com")

    await services.delete_contact(conn, gone.id, staff_id=None)

    assert await services.get_contact(conn, gone.id) is None
    assert await services.contacts_by_client(conn, [client.id]) == {client.id: [kept]}
    actions = await conn.fetch(
        "SELECT action, changes->>'contact_id' AS contact FROM audit_log "
        "WHERE client_id = $1 ORDER BY id",
        client.id,
    )
    assert [(a["action"], a["contact"]) for a in actions][-1] == ("contact.deleted", str(gone.id))


async def test_2_1_update_or_delete_of_an_unknown_contact_is_not_found(
    conn: asyncpg.Connection,
) -> None:
    before = await table_state(conn)

    with pytest.raises(DomainError) as update_refused:
        await update_contact(conn, 999_999, first_name="Jim")
    with pytest.raises(DomainError) as delete_refused:
        await services.delete_contact(conn, 999_999, staff_id=None)

    assert field_errors(update_refused.value) == {("id", NOT_FOUND)}
    assert field_errors(delete_refused.value) == {("id", NOT_FOUND)}
    assert await table_state(conn) == before


async def test_2_1_a_client_scope_never_reaches_another_clients_contact(
    conn: asyncpg.Connection,
) -> None:
    mine = await add_client(conn, email="a@example.com")
    theirs = await add_client(conn, email="b@example.com")
    my_contact = await add_contact(conn, mine.id, email="mine@example.com")
    their_contact = await add_contact(conn, theirs.id, email="theirs@example.com")
    before = await table_state(conn)

    with pytest.raises(DomainError) as update_refused:
        await update_contact(conn, their_contact.id, client_scope=mine.id, first_name="Hacked")
    with pytest.raises(DomainError) as delete_refused:
        await services.delete_contact(conn, their_contact.id, staff_id=None, client_scope=mine.id)

    assert field_errors(update_refused.value) == {("id", NOT_FOUND)}
    assert field_errors(delete_refused.value) == {("id", NOT_FOUND)}
    assert await table_state(conn) == before
    # The same scope does reach the client's own contact.
    renamed = await update_contact(conn, my_contact.id, client_scope=mine.id, first_name="Jo")
    assert renamed.first_name == "Jo"
    await services.delete_contact(conn, my_contact.id, staff_id=None, client_scope=mine.id)
    assert await services.get_contact(conn, my_contact.id) is None


# --- 2.2 email preferences --------------------------------------------------------------------


async def test_2_2_all_six_preference_categories_are_stored(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)

    added = await add_contact(conn, client.id, email_preferences=ALL_CATEGORIES)

    assert added.email_preferences == frozenset(PREFERENCE_CATEGORIES)
    assert {c.value for c in PREFERENCE_CATEGORIES} == {
        "GENERAL",
        "INVOICE",
        "SUPPORT",
        "PRODUCT",
        "DOMAIN",
        "AFFILIATE",
    }
    stored = await conn.fetchval("SELECT email_preferences FROM contacts WHERE id = $1", added.id)
    assert sorted(stored) == sorted(ALL_CATEGORIES)


async def test_2_2_update_ticks_and_unticks_only_the_categories_given(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    added = await add_contact(
        conn, client.id, email_preferences={"GENERAL": True, "INVOICE": True, "DOMAIN": False}
    )
    assert added.email_preferences == ticked(EmailCategory.GENERAL, EmailCategory.INVOICE)

    updated = await update_contact(
        conn,
        added.id,
        email_preferences={"INVOICE": False, "SUPPORT": True, "GENERAL": None},
    )

    assert updated.email_preferences == ticked(EmailCategory.GENERAL, EmailCategory.SUPPORT)
    # Other fields, and preferences not mentioned, stay.
    untouched = await update_contact(conn, added.id, city="Leeds")
    assert untouched.email_preferences == updated.email_preferences


async def test_2_2_an_unknown_category_is_refused_and_nothing_changes(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    added = await add_contact(conn, client.id, email_preferences={"GENERAL": True})
    before = await table_state(conn)

    with pytest.raises(DomainError) as refused:
        await update_contact(conn, added.id, email_preferences={"ACCOUNT": True, "INVOICE": True})

    assert field_errors(refused.value) == {("email_preferences", INVALID)}
    assert await table_state(conn) == before


# --- 2.5 default billing contact --------------------------------------------------------------


async def test_2_5_client_names_one_of_its_contacts_and_null_resets_it(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    contact = await add_contact(conn, client.id)
    assert await billing_contact_id(conn, client.id) is None

    await services.set_billing_contact(conn, client.id, contact.id, staff_id=None)
    assert await billing_contact_id(conn, client.id) == contact.id

    await services.set_billing_contact(conn, client.id, None, staff_id=None)
    assert await billing_contact_id(conn, client.id) is None


async def test_2_5_another_clients_contact_is_refused_and_nothing_changes(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn, email="a@example.com")
    other = await add_client(conn, email="b@example.com")
    own = await add_contact(conn, client.id, email="own@example.com")
    foreign = await add_contact(conn, other.id, email="foreign@example.com")
    await services.set_billing_contact(conn, client.id, own.id, staff_id=None)
    before = await table_state(conn)

    with pytest.raises(DomainError) as refused:
        await services.set_billing_contact(conn, client.id, foreign.id, staff_id=None)

    assert field_errors(refused.value) == {("contact_id", NOT_FOUND)}
    assert await table_state(conn) == before
    # Nor can the database be made to hold it by any other path.
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.execute(
            "UPDATE clients SET billing_contact_id = $2 WHERE id = $1", client.id, foreign.id
        )


async def test_2_5_unknown_client_or_contact_is_not_found(conn: asyncpg.Connection) -> None:
    client = await add_client(conn)
    contact = await add_contact(conn, client.id)

    with pytest.raises(DomainError) as unknown_client:
        await services.set_billing_contact(conn, 999_999, None, staff_id=None)
    with pytest.raises(DomainError) as unknown_contact:
        await services.set_billing_contact(conn, client.id, 999_999, staff_id=None)
    with pytest.raises(DomainError) as contact_of_unknown_client:
        await services.set_billing_contact(conn, 999_999, contact.id, staff_id=None)

    assert field_errors(unknown_client.value) == {("client_id", NOT_FOUND)}
    assert field_errors(unknown_contact.value) == {("contact_id", NOT_FOUND)}
    assert field_errors(contact_of_unknown_client.value) == {("contact_id", NOT_FOUND)}
    assert await billing_contact_id(conn, client.id) is None


async def test_2_5_deleting_the_billing_contact_addresses_the_client_again(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    contact = await add_contact(conn, client.id)
    await services.set_billing_contact(conn, client.id, contact.id, staff_id=None)

    await services.delete_contact(conn, contact.id, staff_id=None)

    assert await billing_contact_id(conn, client.id) is None


# --- 8.3 contact copies of client emails -------------------------------------------------------


async def test_8_3_contacts_ticking_the_category_get_copies_and_others_do_not(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    general = await add_contact(
        conn, client.id, email="general@example.com", email_preferences={"GENERAL": True}
    )
    await add_contact(
        conn,
        client.id,
        email="others@example.com",
        email_preferences={c: c != "GENERAL" for c in ALL_CATEGORIES},
    )
    await add_contact(conn, client.id, email="none@example.com")
    everything = await add_contact(
        conn, client.id, email="all@example.com", email_preferences=ALL_CATEGORIES
    )
    # Another client's contact ticking everything is not this client's.
    other = await add_client(conn, email="other@example.com", first_name="Olga")
    await add_contact(conn, other.id, email="foreign@example.com", email_preferences=ALL_CATEGORIES)
    # A GENERAL email goes to the client even when a billing contact is set.
    await services.set_billing_contact(conn, client.id, everything.id, staff_id=None)

    ids = await queue(conn, client.id, "client_signup")

    assert TEMPLATES["client_signup"].category is EmailCategory.GENERAL
    rows = await outbox_rows(conn)
    assert len(ids) == len(rows) == 3
    assert rows == [
        {
            "client_id": client.id,
            "contact_id": None,
            "template": "client_signup",
            "category": "GENERAL",
            "to_address": "joe@example.com",
            "to_name": "Joe Bloggs",
        },
        {
            "client_id": client.id,
            "contact_id": general.id,
            "template": "client_signup",
            "category": "GENERAL",
            "to_address": "general@example.com",
            "to_name": "Jane Doe",
        },
        {
            "client_id": client.id,
            "contact_id": everything.id,
            "template": "client_signup",
            "category": "GENERAL",
            "to_address": "all@example.com",
            "to_name": "Jane Doe",
        },
    ]


async def test_8_3_invoice_email_goes_to_the_billing_contact_when_one_is_set(
    conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = with_category(monkeypatch, EmailCategory.INVOICE)
    client = await add_client(conn)
    billing = await add_contact(
        conn,
        client.id,
        email="billing@example.com",
        first_name="Bill",
        email_preferences={"INVOICE": True},
    )
    accounts = await add_contact(
        conn,
        client.id,
        email="accounts@example.com",
        first_name="Ann",
        email_preferences={"INVOICE": True},
    )
    await add_contact(
        conn, client.id, email="general@example.com", email_preferences={"GENERAL": True}
    )

    # Without a billing contact the invoice email goes to the client, copied to INVOICE ones.
    await queue(conn, client.id, template)
    assert [(r["to_address"], r["contact_id"]) for r in await outbox_rows(conn)] == [
        ("joe@example.com", None),
        ("billing@example.com", billing.id),
        ("accounts@example.com", accounts.id),
    ]
    await conn.execute("DELETE FROM emails")

    await services.set_billing_contact(conn, client.id, billing.id, staff_id=None)
    await queue(conn, client.id, template)

    # The billing contact gets it instead of the client (once, not also as a copy).
    assert await outbox_rows(conn) == [
        {
            "client_id": client.id,
            "contact_id": billing.id,
            "template": template,
            "category": "INVOICE",
            "to_address": "billing@example.com",
            "to_name": "Bill Doe",
        },
        {
            "client_id": client.id,
            "contact_id": accounts.id,
            "template": template,
            "category": "INVOICE",
            "to_address": "accounts@example.com",
            "to_name": "Ann Doe",
        },
    ]


async def test_8_3_account_emails_are_never_copied_to_contacts(
    conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = with_category(monkeypatch, EmailCategory.ACCOUNT)
    client = await add_client(conn)
    everything = await add_contact(conn, client.id, email_preferences=ALL_CATEGORIES)
    await services.set_billing_contact(conn, client.id, everything.id, staff_id=None)

    ids = await queue(conn, client.id, template)

    assert len(ids) == 1
    assert await outbox_rows(conn) == [
        {
            "client_id": client.id,
            "contact_id": None,
            "template": template,
            "category": "ACCOUNT",
            "to_address": "joe@example.com",
            "to_name": "Joe Bloggs",
        }
    ]


async def test_8_3_a_contact_at_the_recipients_own_address_gets_no_second_copy(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    await add_contact(conn, client.id, email="JOE@example.com", email_preferences={"GENERAL": True})

    await queue(conn, client.id, "client_signup")

    assert [row["to_address"] for row in await outbox_rows(conn)] == ["joe@example.com"]


async def test_2_1_an_update_that_changes_nothing_leaves_no_audit_entry(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    contact = await add_contact(conn, client.id, email_preferences={"GENERAL": True})
    before = await conn.fetchval("SELECT count(*) FROM audit_log")

    await update_contact(conn, contact.id, first_name="Jane", email_preferences={"GENERAL": True})

    assert await conn.fetchval("SELECT count(*) FROM audit_log") == before
