"""SPEC 2.4 (with 5.1, 5.2 and 8.2) through the API, the worker and SMTP: a sub-account the
account holder makes is an invitation. Its address is emailed a one-time link to choose the
password; until then it cannot log in, and whether another login already holds the address
shows nowhere the holder can look: not in the answer, the contact list or the email log.

The token machinery itself (single use, expiry, concurrent acceptances, revocation) is tested
on the domain in tests/domain/test_invitations.py. Sessions are opened directly; only the
acceptances and the logins under test hash.
"""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import Message
from typing import Any

import asyncpg
import httpx
import pytest

from domain.auth import passwords, sessions
from domain.emails.templates import REDACTED
from tests.api.test_sub_accounts import (
    add_client,
    add_plain_contact,
    add_sub_account,
    owner_session,
    payload_of,
    refusals,
)
from tests.conftest import LOGIN, Services, gid, gql

TTL = timedelta(hours=1)
PASSWORD = "invited-password-1"
ERRORS = "errors { field code message }"
CONTACT = "id email subAccount invitationPending invitationExpiresAt permissions"
ADD_MY_CONTACT = f"""
mutation AddMine($input: ContactInput!) {{
  addMyContact(input: $input) {{ contact {{ {CONTACT} }} {ERRORS} }}
}}"""
UPDATE_MY_CONTACT = f"""
mutation UpdateMine($id: ID!, $input: ContactInput!) {{
  updateMyContact(id: $id, input: $input) {{ contact {{ {CONTACT} }} {ERRORS} }}
}}"""
ADD_CONTACT = f"""
mutation Add($clientId: ID!, $input: ContactInput!) {{
  addContact(clientId: $clientId, input: $input) {{ contact {{ {CONTACT} }} {ERRORS} }}
}}"""
ACCEPT = f"""mutation Accept($token: String!, $password: String!) {{
  acceptInvitation(token: $token, password: $password) {{ ok {ERRORS} }} }}"""
MY_CONTACTS = f"query {{ me {{ contacts {{ {CONTACT} }} }} }}"
MY_EMAILS = "query { me { emails { to subject body template } } }"


def invitee(email: str) -> dict[str, Any]:
    return {
        "firstName": "Ivy",
        "lastName": "Invited",
        "email": email,
        "subAccount": True,
        "permissions": ["INVOICES"],
    }


def text_of(message: Message) -> str:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def invitation_token(message: Message) -> str:
    [token] = re.findall(r"/invitation/([A-Za-z0-9_-]+)", text_of(message))
    return token


async def log_in(api: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(api, LOGIN, {"email": email, "password": password}))[
        "data"
    ]["login"]
    return payload


@pytest.fixture
async def holder(conn: asyncpg.Connection) -> tuple[int, str]:
    """A client and its account holder's session."""
    client_id = await add_client(conn, "owner@example.com")
    return client_id, await owner_session(conn, client_id)


async def test_2_4_8_2_an_invited_address_gets_a_link_that_makes_its_login_once(
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    services: Services,
    run_worker: Any,
    holder: tuple[int, str],
) -> None:
    client_id, owner = holder
    added = await payload_of(api, owner, ADD_MY_CONTACT, input=invitee("ivy@example.com"))
    assert added["errors"] == []
    contact = added["contact"]
    assert (contact["subAccount"], contact["invitationPending"]) == (True, True)
    assert contact["invitationExpiresAt"] is not None
    await run_worker()

    [message] = services.mail.messages
    assert message["To"].endswith("<ivy@example.com>")
    assert message["Subject"] == "You are invited to a client account"
    token = invitation_token(message)
    # Until it is accepted the address cannot log in, and is told exactly what a wrong
    # password is told.
    before = await log_in(api, "ivy@example.com", PASSWORD)
    wrong = await log_in(api, "owner@example.com", "not-the-password")
    assert before["token"] is None
    assert before["errors"] == wrong["errors"]
    # The holder cannot take the link from the email log: the token is gone once sent.
    [logged] = (await gql(api, MY_EMAILS, token=owner))["data"]["me"]["emails"]
    assert token not in logged["body"] and REDACTED in logged["body"]
    assert token not in str(await conn.fetchrow("SELECT body, context FROM emails"))

    accepted = await gql(api, ACCEPT, {"token": token, "password": PASSWORD})
    assert accepted["data"]["acceptInvitation"] == {"ok": True, "errors": []}
    again = await gql(api, ACCEPT, {"token": token, "password": "another-password-2"})
    assert refusals(again["data"]["acceptInvitation"]) == {("token", "INVALID")}

    login = await log_in(api, "ivy@example.com", PASSWORD)
    assert login["errors"] == []
    assert login["viewer"]["kind"] == "CONTACT"
    assert login["viewer"]["clientId"] == gid("Client", client_id)
    [listed] = (await gql(api, MY_CONTACTS, token=owner))["data"]["me"]["contacts"]
    assert listed == {**contact, "invitationPending": False, "invitationExpiresAt": None}


# Each taken address as another login holds it, written in another case.
TAKEN = {
    "other-clients-holder": "Other.Owner@EXAMPLE.com",
    "other-clients-sub-account": "Taken.SUB@example.com",
    "staff": "ADMIN@staff.example.com",
    "own-holder": "OWNER@example.com",
}


@pytest.fixture
async def other_logins(conn: asyncpg.Connection) -> None:
    other = await add_client(conn, "other.owner@example.com")
    await add_sub_account(conn, other, "taken.sub@example.com")
    await conn.execute("INSERT INTO logins (email) VALUES ('admin@staff.example.com')")


def shape(value: Any, *, ids: list[str], emails: list[str]) -> Any:
    """`value` with the given ids and addresses (any case) replaced by placeholders, and
    times by a mark: what stays must not depend on which address was invited."""
    text = str(value)
    for n, id_ in enumerate(ids):
        text = text.replace(id_, f"<id{n}>")
    for n, email in enumerate(emails):
        text = re.sub(re.escape(email), f"<email{n}>", text, flags=re.IGNORECASE)
    return re.sub(r"\d{4}-\d\d-\d\dT[\d:.+]+Z?", "<time>", text)


# Every way to invite an address, and every kind of login that may hold it already.
CASES = [("add", taken_by) for taken_by in TAKEN] + [
    (way, "other-clients-holder") for way in ("turn-on", "change-email")
]


@pytest.mark.parametrize(("way", "taken_by"), CASES)
async def test_2_4_a_taken_address_gets_the_same_answer_and_links_nothing(
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    services: Services,
    run_worker: Any,
    holder: tuple[int, str],
    other_logins: None,
    taken_by: str,
    way: str,
) -> None:
    client_id, owner = holder
    logins_before = await conn.fetch("SELECT * FROM logins ORDER BY id")

    async def invite(email: str) -> dict[str, Any]:
        if way == "add":
            return await payload_of(api, owner, ADD_MY_CONTACT, input=invitee(email))
        if way == "turn-on":
            plain = await add_plain_contact(conn, client_id, email)
            return await payload_of(
                api, owner, UPDATE_MY_CONTACT, id=plain, input={"subAccount": True}
            )
        sub = await payload_of(api, owner, ADD_MY_CONTACT, input=invitee(f"first.{email}"))
        return await payload_of(
            api, owner, UPDATE_MY_CONTACT, id=sub["contact"]["id"], input={"email": email}
        )

    taken, free = TAKEN[taken_by], "free.address@example.com"
    answers = [await invite(taken), await invite(free)]
    await run_worker()

    ids = [answer["contact"]["id"] for answer in answers]
    emails = [taken, free]
    assert shape(answers[0], ids=ids, emails=emails) == shape(
        answers[1], ids=[ids[1], ids[0]], emails=[free, taken]
    )
    listed = (await gql(api, MY_CONTACTS, token=owner))["data"]["me"]["contacts"]
    mine = [c for c in listed if c["id"] in ids]
    assert shape(mine[0], ids=ids, emails=emails) == shape(
        mine[1], ids=[ids[1], ids[0]], emails=[free, taken]
    )
    logged = (await gql(api, MY_EMAILS, token=owner))["data"]["me"]["emails"]
    [to_taken, to_free] = [
        [e for e in logged if e["to"].lower() == email.lower()] for email in emails
    ]
    assert shape(to_taken, ids=[], emails=[taken]) == shape(to_free, ids=[], emails=[free])
    # Nothing of the other login changed, and no contact of this client holds it.
    assert (await conn.fetch("SELECT * FROM logins ORDER BY id"))[: len(logins_before)] == (
        logins_before
    )
    assert not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE client_id = $1 AND login_id IS NOT NULL)",
        client_id,
    )

    # The invitation reached the address's owner, who alone learns why it cannot be accepted.
    [mailed] = [m for m in services.mail.messages if f"<{taken.lower()}>" in m["To"].lower()]
    refused = await gql(api, ACCEPT, {"token": invitation_token(mailed), "password": PASSWORD})
    assert refusals(refused["data"]["acceptInvitation"]) == {("token", "CONFLICT")}
    assert (await conn.fetch("SELECT * FROM logins ORDER BY id"))[: len(logins_before)] == (
        logins_before
    )


async def test_2_4_staff_still_make_a_sub_account_with_a_password_or_invite_it(
    api: httpx.AsyncClient, conn: asyncpg.Connection, other_logins: None
) -> None:
    client_id = await add_client(conn, "owner@example.com")
    staff_login = await conn.fetchval(
        "SELECT id FROM logins WHERE email = 'admin@staff.example.com'"
    )
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) VALUES ($1, 'S', 'S', 'ADMIN')",
        staff_login,
    )
    staff = await sessions.start_session(conn, staff_login, ttl=TTL)
    client = gid("Client", client_id)

    direct = await payload_of(
        api,
        staff,
        ADD_CONTACT,
        clientId=client,
        input={**invitee("d@example.com"), "password": PASSWORD},
    )
    invited = await payload_of(
        api, staff, ADD_CONTACT, clientId=client, input=invitee("i@example.com")
    )
    taken = await payload_of(
        api, staff, ADD_CONTACT, clientId=client, input=invitee("taken.sub@example.com")
    )

    assert direct["contact"]["invitationPending"] is False
    hashed = await conn.fetchval("SELECT password_hash FROM logins WHERE email = 'd@example.com'")
    assert await passwords.verify_password(hashed, PASSWORD)
    assert invited["contact"]["invitationPending"] is True
    assert (
        await conn.fetchval(
            "SELECT to_address FROM emails WHERE template = 'sub_account_invitation'"
        )
        == "i@example.com"
    )
    # Staff see every account: they are told the address is taken.
    assert refusals(taken) == {("email", "CONFLICT")}
