"""SPEC 5.1/5.4: every operation that hashes a password spends from a budget per login and
per address, so that no account (a client setting its sub-account's password in a loop, say)
can keep the hashing threads busy. The budget here is 2 hashes per login. Staff, trusted,
have a budget of their own, large enough for bulk onboarding.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from app.settings import Settings
from app.web import create_app
from domain.auth import passwords, sessions
from domain.auth.password_tokens import INVITATION_TOKEN_TTL, TokenPurpose, issue_token
from domain.auth.permissions import StaffRole
from domain.auth.throttle import ADDRESS_BUDGET_FACTOR, HASH_BUDGET_OF
from domain.auth.viewer import ViewerKind
from domain.clients import services as client_services
from tests.api.introspection import root_fields_taking
from tests.conftest import gid, gql

BUDGET = 2
TTL = timedelta(hours=1)
OWNER_EMAIL = "owner@example.com"
PASSWORD = "owner-password-1"
PASSWORD_HASH = passwords.hash_password_blocking(PASSWORD)


@dataclass(frozen=True)
class Hashing:
    """An operation that hashes a password; `{n}` makes each run's input new."""

    document: str
    viewer: str  # "staff", "owner" or "anonymous"


ERRORS = "errors { field code }"
HASHING = {
    "login": Hashing(
        f'mutation {{ login(email: "{OWNER_EMAIL}", password: "{PASSWORD}") {{ {ERRORS} }} }}',
        "anonymous",
    ),
    "addClient": Hashing(
        """mutation { addClient(input: {firstName: "New", lastName: "Client",
             email: "new{n}@example.com", password: "a-long-password"},
             sendWelcomeEmail: false) { %s } }""",
        "staff",
    ),
    "updateClient": Hashing(
        """mutation($client: ID!) { updateClient(id: $client,
             input: {password: "a-long-password-{n}"}) { %s } }""",
        "staff",
    ),
    "addContact": Hashing(
        """mutation($client: ID!) { addContact(clientId: $client, input: {firstName: "New",
             lastName: "Sub", email: "sub{n}@example.com", subAccount: true,
             password: "a-long-password"}) { %s } }""",
        "staff",
    ),
    "updateContact": Hashing(
        """mutation($sub: ID!) { updateContact(id: $sub,
             input: {password: "a-long-password-{n}"}) { %s } }""",
        "staff",
    ),
    "setPassword": Hashing(
        """mutation($client: ID!) { setPassword(clientId: $client,
             password: "a-long-password-{n}") { %s } }""",
        "staff",
    ),
    "confirmPasswordReset": Hashing(
        """mutation($reset{n}: String!) { confirmPasswordReset(token: $reset{n},
             newPassword: "a-long-password") { %s } }""",
        "anonymous",
    ),
    "acceptInvitation": Hashing(
        """mutation($invitation{n}: String!) { acceptInvitation(token: $invitation{n},
             password: "a-long-password") { %s } }""",
        "anonymous",
    ),
}
# Root fields that take a password but refuse it before hashing anything: in the client area
# a sub-account's password is chosen by its user, from the invitation (SPEC 2.4).
REFUSED = {
    "addMyContact": Hashing(
        """mutation { addMyContact(input: {firstName: "New", lastName: "Sub",
             email: "sub{n}@example.com", subAccount: true, password: "a-long-password"}) {
             %s } }""",
        "owner",
    ),
    "updateMyContact": Hashing(
        """mutation($sub: ID!) { updateMyContact(id: $sub,
             input: {password: "a-long-password-{n}"}) { %s } }""",
        "owner",
    ),
}


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Starlette]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, app


@pytest.fixture
async def tight_api(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """Staff's budget as small as everyone else's, to see every operation spend from it."""
    budgets = {"password_hash_budget": BUDGET, "staff_password_hash_budget": BUDGET}
    async with serving(settings.model_copy(update=budgets)) as (api, _):
        yield api


@dataclass(frozen=True)
class World:
    tokens: dict[str, str | None]
    variables: dict[str, str]
    sub_login: int


@pytest.fixture
async def world(conn: asyncpg.Connection) -> World:
    client = await client_services.add_client(
        conn,
        {"first_name": "Joe", "last_name": "Owner", "email": OWNER_EMAIL},
        password=None,
        staff_id=None,
        send_welcome_email=False,
        client_area_url="http://127.0.0.1:8000",
    )
    await conn.execute(
        "UPDATE logins SET password_hash = $2 WHERE id = $1", client.owner_login_id, PASSWORD_HASH
    )
    sub_login = await conn.fetchval(
        "INSERT INTO logins (email, password_hash) VALUES ('sub@example.com', $1) RETURNING id",
        PASSWORD_HASH,
    )
    sub = await conn.fetchval(
        """INSERT INTO contacts (client_id, login_id, first_name, last_name, email)
           VALUES ($1, $2, 'Sub', 'Account', 'sub@example.com') RETURNING id""",
        client.id,
        sub_login,
    )
    invited = [
        await conn.fetchval(
            """INSERT INTO contacts (client_id, first_name, last_name, email, invited_at)
               VALUES ($1, 'Invited', 'Sub', $2, now()) RETURNING id""",
            client.id,
            f"invited{n}@example.com",
        )
        for n in range(BUDGET + 1)
    ]
    staff_login = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ('admin@staff.example.com') RETURNING id"
    )
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) VALUES ($1, 'Sam', 'S', $2)",
        staff_login,
        StaffRole.ADMIN.value,
    )
    return World(
        tokens={
            "anonymous": None,
            "staff": await sessions.start_session(conn, staff_login, ttl=TTL),
            "owner": await sessions.start_session(conn, client.owner_login_id, ttl=TTL),
            "sub": await sessions.start_session(conn, sub_login, ttl=TTL),
        },
        variables={
            "client": gid("Client", client.id),
            "sub": gid("Contact", sub),
            # A login's new token voids its older ones: one token for each of three logins.
            **{
                f"reset{n}": await issue_token(conn, login, TokenPurpose.RESET, ttl=TTL)
                for n, login in enumerate([sub_login, client.owner_login_id, staff_login])
            },
            **{
                f"invitation{n}": await issue_token(
                    conn, contact, TokenPurpose.INVITATION, ttl=INVITATION_TOKEN_TTL
                )
                for n, contact in enumerate(invited)
            },
        },
        sub_login=sub_login,
    )


async def run(api: httpx.AsyncClient, world: World, op: Hashing, n: int) -> list[dict[str, Any]]:
    document = op.document.replace("{n}", str(n)).replace("%s", ERRORS)
    variables = {k: v for k, v in world.variables.items() if f"${k}" in document}
    body = await gql(api, document, variables, token=world.tokens[op.viewer])
    [payload] = body["data"].values()
    errors: list[dict[str, Any]] = payload["errors"]
    return errors


def test_5_4_every_operation_taking_a_password_has_a_budget_test() -> None:
    taking = root_fields_taking("password")
    missing = sorted(taking - set(HASHING) - set(REFUSED))
    assert not missing, (
        f"root fields taking a password without an entry in HASHING or REFUSED: {missing}"
    )


@pytest.mark.parametrize("field", HASHING)
async def test_5_4_operations_that_hash_a_password_are_budgeted_per_login(
    tight_api: httpx.AsyncClient, conn: asyncpg.Connection, world: World, field: str
) -> None:
    op = HASHING[field]
    for n in range(BUDGET):
        assert await run(tight_api, world, op, n) == []
    hashes = await conn.fetch("SELECT id, password_hash FROM logins ORDER BY id")

    refused = await run(tight_api, world, op, BUDGET)

    assert [e["code"] for e in refused] == ["TOO_MANY_ATTEMPTS"]
    assert await conn.fetch("SELECT id, password_hash FROM logins ORDER BY id") == hashes


@pytest.mark.parametrize("field", REFUSED)
async def test_2_4_5_4_client_area_sub_account_passwords_are_refused_before_hashing(
    tight_api: httpx.AsyncClient, conn: asyncpg.Connection, world: World, field: str
) -> None:
    """Past the budget too: a refused password spends none of it."""
    hashes = await conn.fetch("SELECT id, password_hash FROM logins ORDER BY id")
    for n in range(BUDGET + 1):
        assert await run(tight_api, world, REFUSED[field], n) == [
            {"field": "password", "code": "FORBIDDEN"}
        ]
    assert await conn.fetch("SELECT id, password_hash FROM logins ORDER BY id") == hashes


async def test_5_4_one_logins_password_changes_leave_other_logins_their_budget(
    tight_api: httpx.AsyncClient, world: World
) -> None:
    staffs = HASHING["updateContact"]
    for n in range(BUDGET + 1):
        await run(tight_api, world, staffs, n)
    assert await run(tight_api, world, HASHING["setPassword"], 0) != []
    assert await run(tight_api, world, HASHING["acceptInvitation"], 0) == []


async def test_5_4_a_staff_session_adds_more_clients_with_passwords_than_a_clients_budget(
    api: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    """With the default budgets: billing staff onboarding clients are never refused."""
    for n in range(settings.password_hash_budget + 5):
        assert await run(api, world, HASHING["addClient"], n) == [], n


async def test_5_4_staff_hash_from_a_bounded_budget_of_their_own_and_not_their_addresss(
    settings: Settings, pool: asyncpg.Pool, world: World
) -> None:
    """Staff pass both the client budget and their address's, up to the staff budget; the
    address's clients still have theirs."""
    staff_budget = BUDGET * ADDRESS_BUDGET_FACTOR + 2
    budgets = {"password_hash_budget": BUDGET, "staff_password_hash_budget": staff_budget}
    async with serving(settings.model_copy(update=budgets)) as (api, _):
        for n in range(staff_budget):
            assert await run(api, world, HASHING["addClient"], n) == [], n
        refused = await run(api, world, HASHING["addClient"], staff_budget)
        assert [e["code"] for e in refused] == ["TOO_MANY_ATTEMPTS"]
        assert await run(api, world, HASHING["acceptInvitation"], 0) == []


async def test_5_4_a_sub_account_changing_its_password_in_a_loop_is_refused_past_its_budget(
    api: httpx.AsyncClient, settings: Settings, conn: asyncpg.Connection, world: World
) -> None:
    """With the default budgets, each change through a fresh reset link of its own."""
    change = """mutation($token: String!, $password: String!) {
        confirmPasswordReset(token: $token, newPassword: $password) { ok errors { code } } }"""
    answers = []
    for n in range(settings.password_hash_budget + 2):
        token = await issue_token(conn, world.sub_login, TokenPurpose.RESET, ttl=TTL)
        variables = {"token": token, "password": f"a-long-password-{n}"}
        body = await gql(api, change, variables, token=world.tokens["sub"])
        answers.append(body["data"]["confirmPasswordReset"])
    budget = settings.password_hash_budget
    assert answers[:budget] == [{"ok": True, "errors": []}] * budget
    refused = {"ok": False, "errors": [{"code": "TOO_MANY_ATTEMPTS"}]}
    assert answers[budget:] == [refused, refused]


def test_5_4_every_kind_of_viewer_has_a_password_hash_budget() -> None:
    """A new kind of principal must say which budget its hashes are spent from."""
    assert set(HASH_BUDGET_OF) == {None, *ViewerKind}


async def test_5_1_password_changes_waiting_for_the_hashing_threads_hold_no_connection(
    settings: Settings, world: World
) -> None:
    """Six concurrent password changes: each takes its connection when its turn to hash
    comes, so on average hardly more than one is in use (six queued would hold six)."""
    samples: list[int] = []
    async with serving(settings) as (api, app):
        app_pool: asyncpg.Pool = app.state.services.pool

        async def sample() -> None:
            while True:
                samples.append(app_pool.get_size() - app_pool.get_idle_size())
                await asyncio.sleep(0.005)

        sampler = asyncio.create_task(sample())
        changes = [run(api, world, HASHING["updateContact"], n) for n in range(6)]
        results = await asyncio.gather(*changes)
        sampler.cancel()
    assert results == [[]] * 6
    assert sum(samples) / len(samples) < 2, samples
