"""Hostile input at the HTTP and GraphQL layer: oversized and deeply nested bodies, text no
column can store, ids in other digits, ambiguous documents, errors without a code, 500s
without a request id; and the session cookie's Secure flag and the /metrics token."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

import app.web
from app.settings import Settings
from app.web import create_app
from domain.auth.permissions import ContactPermission, StaffRole
from domain.auth.staff import create_staff
from tests.api.test_serving import admin_session, serve
from tests.api.test_sub_accounts import add_client, add_sub_account
from tests.conftest import Services, gid, gql

MiB = 1024 * 1024
INJECTION = "Joe\r\nBcc: x@evil.example"
ERRORS = "errors { field code message }"


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


# --- request bodies ------------------------------------------------------------------------------


def test_the_default_body_limit_is_one_mib_and_uploads_have_their_own() -> None:
    defaults = Settings(_env_file=None)
    assert defaults.max_request_bytes == MiB
    assert defaults.max_upload_bytes > defaults.max_request_bytes


def padded_query(size: int) -> bytes:
    """A valid JSON GraphQL request of exactly `size` bytes."""
    body = json.dumps({"query": "{ viewer { kind } }", "variables": {"pad": ""}})
    return body.replace('"pad": ""', '"pad": "' + "x" * (size - len(body)) + '"').encode()


async def test_a_body_over_the_limit_is_refused_with_413_and_a_code(
    api: httpx.AsyncClient,
) -> None:
    allowed = await api.post(
        "/graphql", content=padded_query(MiB), headers={"Content-Type": "application/json"}
    )
    assert allowed.status_code == 200 and allowed.json() == {"data": {"viewer": None}}

    refused = await api.post(
        "/graphql",
        content=padded_query(MiB + 1),
        headers={"Content-Type": "application/json", "X-Request-ID": "too-big-1"},
    )
    assert refused.status_code == 413
    assert refused.json()["errors"][0]["extensions"] == {
        "code": "PAYLOAD_TOO_LARGE",
        "requestId": "too-big-1",
    }


class Chunks:
    """A streamed body of `count` chunks that records how many the server pulled."""

    def __init__(self, count: int, size: int = 64 * 1024) -> None:
        self.count, self.size, self.pulled = count, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.count):
            self.pulled += 1
            yield b" " * self.size


async def test_a_declared_oversized_body_is_refused_before_any_of_it_is_read(
    api: httpx.AsyncClient,
) -> None:
    body = Chunks(1600)  # 100 MiB
    response = await api.post(
        "/graphql",
        content=body,
        headers={"Content-Type": "application/json", "Content-Length": str(100 * MiB)},
    )
    assert response.status_code == 413
    assert body.pulled == 0


async def test_a_streamed_body_is_cut_off_once_it_passes_the_limit(
    api: httpx.AsyncClient,
) -> None:
    body = Chunks(1600)  # 100 MiB, chunked: no Content-Length to go by
    response = await api.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert body.pulled == MiB // body.size + 1


async def test_uploads_are_held_to_their_own_limit(pool: asyncpg.Pool, settings: Settings) -> None:
    limits = {"max_request_bytes": 4096, "max_upload_bytes": 8192}
    async with serve(settings.model_copy(update=limits)) as api:
        multipart = {"Content-Type": "multipart/form-data; boundary=x"}
        small = await api.post("/graphql", content=b"-" * 6000, headers=multipart)
        assert small.status_code != 413
        large = await api.post("/graphql", content=b"-" * 8193, headers=multipart)
        assert large.status_code == 413
        json_body = await api.post(
            "/graphql", content=padded_query(6000), headers={"Content-Type": "application/json"}
        )
        assert json_body.status_code == 413


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


async def test_deeply_nested_json_is_refused_with_400(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    for depth in (settings.max_json_depth + 1, 100_000):
        body = '{"query": "{ viewer { kind } }", "variables": {"x": ' + nested(depth) + "}}"
        response = await api.post(
            "/graphql", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, depth
    # At the limit (the body object, `variables` and the arrays) the request runs.
    depth = settings.max_json_depth - 2
    body = '{"query": "{ viewer { kind } }", "variables": {"x": ' + nested(depth) + "}}"
    response = await api.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.json() == {"data": {"viewer": None}}
    # Over GET too: the variables are JSON in the query string.
    response = await api.get(
        "/graphql",
        params={"query": "{ viewer { kind } }", "variables": '{"x": ' + nested(10_000) + "}"},
    )
    assert response.status_code == 400


@pytest.mark.parametrize("body", ['"a string"', "42", "null"])
async def test_a_body_that_is_no_json_object_is_a_400(api: httpx.AsyncClient, body: str) -> None:
    response = await api.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


# --- text no column can store ------------------------------------------------------------------

SEARCH = "query($s: String) { clients(search: $s) { totalCount } }"
ADD_CLIENT = f"""
mutation($input: AddClientInput!) {{ addClient(input: $input) {{ client {{ id }} {ERRORS} }} }}"""


async def test_nul_in_any_string_input_is_bad_user_input_for_that_argument(
    api: httpx.AsyncClient, admin_token: str
) -> None:
    literal = await gql(
        api, '{ clients(search: "a\\u0000b") { totalCount } }', token=admin_token, allow_errors=True
    )
    assert literal["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "search"}
    assert literal.get("data") is None

    variable = await gql(api, SEARCH, {"s": "a\x00b"}, token=admin_token, allow_errors=True)
    assert variable["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "$s"}

    fields = {"firstName": "Joe", "lastName": "Bloggs", "email": "joe@example.com"}
    nested_input = await gql(
        api,
        ADD_CLIENT,
        {"input": {**fields, "city": "Lee\x00ds"}},
        token=admin_token,
        allow_errors=True,
    )
    assert [e["extensions"]["argument"] for e in nested_input["errors"]] == ["$input.city"]

    literal_input = await gql(
        api,
        'mutation { addClient(input: {firstName: "J\\u0000", lastName: "B", email: "j@x.com"})'
        f" {{ client {{ id }} {ERRORS} }} }}",
        token=admin_token,
        allow_errors=True,
    )
    assert [e["extensions"]["argument"] for e in literal_input["errors"]] == ["input.firstName"]
    # The login mutation, reached before anyone is logged in, is guarded alike.
    login = await gql(
        api,
        'mutation { login(email: "a\\u0000@example.com", password: "x") { token } }',
        allow_errors=True,
    )
    assert codes(login) == ["BAD_USER_INPUT"]


async def test_lone_surrogates_are_refused_and_never_a_500(
    api: httpx.AsyncClient, admin_token: str
) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {admin_token}"}
    in_variables = '{"query": "' + SEARCH + '", "variables": {"s": "a\\ud800"}}'
    response = await api.post("/graphql", content=in_variables, headers=headers)
    assert response.status_code == 400
    in_document = '{"query": "{ clients(search: \\"a\\ud800\\") { totalCount } }"}'
    response = await api.post("/graphql", content=in_document, headers=headers)
    assert response.status_code == 400
    escaped = await gql(
        api, '{ clients(search: "a\\ud800") { totalCount } }', token=admin_token, allow_errors=True
    )
    assert codes(escaped) == ["GRAPHQL_PARSE_FAILED"]


# --- ids ---------------------------------------------------------------------------------------

CLIENT = "query($id: ID!) { client(id: $id) { id } }"
UPDATE_CLIENT = f"""
mutation($id: ID!) {{
  updateClient(id: $id, input: {{city: "Leeds"}}) {{ client {{ id }} {ERRORS} }}
}}"""


@pytest.mark.parametrize(
    "given", ["\uff12", "\u0662", "\u00b2", "2\u00b2", " 2", "+2", "2.0"], ids=ascii
)
async def test_ids_are_ascii_digits_only(
    api: httpx.AsyncClient, conn: asyncpg.Connection, admin_token: str, given: str
) -> None:
    for email in ("one@example.com", "two@example.com"):
        await add_client(conn, email)
    assert (await gql(api, CLIENT, {"id": gid("Client", 2)}, token=admin_token))["data"] == {
        "client": {"id": gid("Client", 2)}
    }

    assert (await gql(api, CLIENT, {"id": given}, token=admin_token))["data"] == {"client": None}
    payload = (await gql(api, UPDATE_CLIENT, {"id": given}, token=admin_token))["data"]
    assert payload["updateClient"]["errors"] == [
        {"field": "id", "code": "NOT_FOUND", "message": "Client not found."}
    ]
    assert await conn.fetchval("SELECT count(*) FROM clients WHERE city IS NOT NULL") == 0


# --- text that poisons later email -------------------------------------------------------------

UPDATE_MY_PROFILE = f"""
mutation($input: UpdateMyProfileInput!) {{
  updateMyProfile(input: $input) {{ client {{ firstName }} {ERRORS} }}
}}"""


async def test_1_2_a_line_break_in_a_name_is_refused_for_staff_and_sub_accounts(
    api: httpx.AsyncClient, conn: asyncpg.Connection, admin_token: str
) -> None:
    fields = {"firstName": INJECTION, "lastName": "Bloggs", "email": "joe@example.com"}
    payload = (await gql(api, ADD_CLIENT, {"input": fields}, token=admin_token))["data"]
    assert payload["addClient"]["client"] is None
    assert [(e["field"], e["code"]) for e in payload["addClient"]["errors"]] == [
        ("firstName", "INVALID")
    ]

    client_id = await add_client(conn, "owner@example.com")
    sub = await add_sub_account(conn, client_id, "sub@example.com", {ContactPermission.PROFILE})
    body = await gql(api, UPDATE_MY_PROFILE, {"input": {"firstName": INJECTION}}, token=sub.token)
    assert [(e["field"], e["code"]) for e in body["data"]["updateMyProfile"]["errors"]] == [
        ("firstName", "INVALID")
    ]
    assert await conn.fetchval("SELECT first_name FROM clients WHERE id = $1", client_id) == "Joe"


async def test_1_2_addresses_that_cannot_be_sent_are_refused_and_idn_domains_are_delivered(
    api: httpx.AsyncClient, admin_token: str, run_worker: Any, services: Services
) -> None:
    fields = {"firstName": "Jöe", "lastName": "Bloggs"}
    refused = await gql(
        api, ADD_CLIENT, {"input": {**fields, "email": "jöe@example.com"}}, token=admin_token
    )
    assert [(e["field"], e["code"]) for e in refused["data"]["addClient"]["errors"]] == [
        ("email", "INVALID")
    ]

    added = await gql(
        api, ADD_CLIENT, {"input": {**fields, "email": "joe@exämple.com"}}, token=admin_token
    )
    assert added["data"]["addClient"]["errors"] == []
    await run_worker()
    [message] = services.mail.messages
    assert message["To"].endswith("<joe@xn--exmple-cua.com>")


# --- GraphQL spec: operations and error codes ---------------------------------------------------


async def test_a_document_of_several_operations_needs_an_operation_name(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    token = await admin_session(conn)
    document = "query A { viewer { kind } } mutation B { logout }"
    body = await gql(api, document, token=token, allow_errors=True)
    assert codes(body) == ["OPERATION_RESOLUTION_FAILURE"] and body.get("data") is None
    # Nothing ran: the session the mutation would have ended is still open.
    response = await api.post(
        "/graphql",
        json={"query": document, "operationName": "A"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.json() == {"data": {"viewer": {"kind": "STAFF"}}}


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ("{ viewer { kind }", None, "GRAPHQL_PARSE_FAILED"),
        ("{ viewr { kind } }", None, "GRAPHQL_VALIDATION_FAILED"),
        ("{ clients(first: 1) { edges { nope } } }", None, "GRAPHQL_VALIDATION_FAILED"),
        (
            "{ " + " ".join(f"v{n}: viewer {{ kind }}" for n in range(31)) + " }",
            None,
            "QUERY_LIMIT_EXCEEDED",
        ),
        (
            "{ clients(status: [" + "ACTIVE " * 4000 + "]) { totalCount } }",
            None,
            "QUERY_LIMIT_EXCEEDED",
        ),
        (
            "{ clients { edges { node " + "{ address " * 12 + "{ city }" + " }" * 12 + " } } }",
            None,
            "QUERY_LIMIT_EXCEEDED",
        ),
        ("query($n: Int!) { clients(first: $n) { totalCount } }", {"n": "ten"}, "BAD_USER_INPUT"),
        ("query($n: Int!) { clients(first: $n) { totalCount } }", {}, "BAD_USER_INPUT"),
    ],
    ids=[
        "syntax",
        "unknown-field",
        "unknown-nested-field",
        "aliases",
        "tokens",
        "depth",
        "variable-type",
        "missing-variable",
    ],
)
async def test_every_request_error_carries_a_code(
    api: httpx.AsyncClient, query: str, variables: dict[str, Any] | None, code: str
) -> None:
    body = await gql(api, query, variables, allow_errors=True)
    assert body["errors"] and None not in codes(body) and code in codes(body), body


# --- 500s ---------------------------------------------------------------------------------------


@asynccontextmanager
async def serve_without_raising(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Like `serve`, but the client gets the 500 response rather than the exception."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_a_failure_outside_graphql_is_a_json_500_with_the_request_id(
    pool: asyncpg.Pool,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(self: Any, request: Any) -> Any:
        raise RuntimeError("password=hunter2")

    monkeypatch.setattr(app.web.GraphQLEndpoint, "parse_http_body", broken)
    async with serve_without_raising(settings) as api:
        with caplog.at_level(logging.ERROR, logger="clientdesk.web"):
            response = await api.post(
                "/graphql", json={"query": "{ viewer { kind } }"}, headers={"X-Request-ID": "r-1"}
            )
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "r-1"
    assert response.json() == {
        "errors": [
            {
                "message": "Internal error.",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "r-1"},
            }
        ]
    }
    assert "hunter2" not in response.text
    assert any("r-1" in r.getMessage() and r.exc_info for r in caplog.records)


# --- session cookie, metrics --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("public_url", "secure"),
    [
        ("", False),  # http://127.0.0.1:8000, the default
        ("http://localhost:8080", False),
        ("http://127.0.0.1", False),
        ("https://localhost", True),
        ("https://clients.example.com", True),
        ("http://clients.example.com", True),
        ("http://localhost.example.com", True),
        ("http://192.168.1.20:8000", True),
    ],
)
def test_the_session_cookie_is_secure_unless_served_over_http_on_this_machine(
    public_url: str, secure: bool
) -> None:
    assert Settings(_env_file=None, public_url=public_url).secure_cookies is secure


LOGIN = """mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"""


async def test_a_public_deployment_sets_a_secure_session_cookie(
    pool: asyncpg.Pool, conn: asyncpg.Connection, settings: Settings
) -> None:
    await create_staff(
        conn,
        email="ada@staff.example.com",
        password="staff-password-1",
        first_name="Ada",
        last_name="Min",
        role=StaffRole.ADMIN,
    )
    credentials = {"e": "ada@staff.example.com", "p": "staff-password-1"}
    for public_url, secure in (("http://127.0.0.1:8000", False), ("http://api.example.com", True)):
        async with serve(settings.model_copy(update={"public_url": public_url})) as api:
            response = await api.post("/graphql", json={"query": LOGIN, "variables": credentials})
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("clientdesk_session=")
        assert ("secure" in cookie.lower().split("; ")) is secure, cookie


async def test_metrics_need_the_bearer_token_when_one_is_set(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    async with serve(settings.model_copy(update={"metrics_token": "m-token"})) as api:
        assert (await api.get("/metrics")).status_code == 401
        wrong = await api.get("/metrics", headers={"Authorization": "Bearer other"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        right = await api.get("/metrics", headers={"Authorization": "Bearer m-token"})
        assert right.status_code == 200 and "clientdesk_http_requests_total" in right.text
    # Without a token set, /metrics stays open (the default).
    async with serve(settings) as api:
        assert (await api.get("/metrics")).status_code == 200
