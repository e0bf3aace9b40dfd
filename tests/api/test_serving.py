"""Serving the API: health, readiness, metrics, GraphiQL, request ids, and the guards of the
GraphQL endpoint (GET for queries only, depth/token/alias limits, no field suggestions,
masked unexpected errors, production settings)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

import domain.settings
from app.settings import Settings
from app.web import create_app
from domain.auth import sessions
from domain.auth.permissions import StaffRole
from tests.conftest import gql

HTML = {"Accept": "text/html"}
REQUESTS_TOTAL = "clientdesk_http_requests_total"


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for an app built with other settings (the `api` fixture's, changed)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def admin_session(conn: asyncpg.Connection) -> str:
    login_id = await conn.fetchval(
        "INSERT INTO logins (email) VALUES ('admin@staff.example.com') RETURNING id"
    )
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) VALUES ($1, 'Ada', 'Min', $2)",
        login_id,
        StaffRole.ADMIN.value,
    )
    return await sessions.start_session(conn, login_id, ttl=timedelta(hours=1))


def error_messages(body: dict[str, Any]) -> list[str]:
    return [e["message"] for e in body.get("errors", [])]


async def test_healthz_answers_while_the_process_is_up(api: httpx.AsyncClient) -> None:
    response = await api.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok")


async def test_readyz_reports_postgres_migrations_and_redis(api: httpx.AsyncClient) -> None:
    response = await api.get("/readyz")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"postgres": "ok", "migrations": "ok", "redis": "ok"}


def requests_counted(metrics: str, route: str, status: str) -> float:
    pattern = (
        rf'^{REQUESTS_TOTAL}\{{method="GET",route="{re.escape(route)}",status="{status}"\}} (\S+)$'
    )
    match = re.search(pattern, metrics, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_metrics_count_requests_per_route_in_prometheus_text(api: httpx.AsyncClient) -> None:
    before = (await api.get("/metrics")).text
    await api.get("/healthz")
    await api.get("/healthz")
    response = await api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert f"# TYPE {REQUESTS_TOTAL} counter" in response.text
    counted = requests_counted(response.text, "/healthz", "200")
    assert counted == requests_counted(before, "/healthz", "200") + 2


async def test_graphiql_is_served_with_its_assets_from_the_app(api: httpx.AsyncClient) -> None:
    response = await api.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "GraphiQL" in page
    # Works without internet access: nothing is fetched from a CDN.
    assert not re.search(r"https?://", page)
    assets = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"', page)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        assert asset.startswith("/static/graphiql/"), asset
        served = await api.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 1000, asset


@pytest.mark.parametrize(
    "given",
    ["abc123", "0f8fad5b-d9cb-469f-a165-70867728950e", "A" * 64],
    ids=["token", "uuid", "longest"],
)
async def test_the_callers_request_id_is_echoed(api: httpx.AsyncClient, given: str) -> None:
    for path in ("/healthz", "/graphql?query={viewer{kind}}"):
        response = await api.get(path, headers={"X-Request-ID": given})
        assert response.headers["x-request-id"] == given


@pytest.mark.parametrize("given", [None, "", "has spaces", "<script>", "A" * 65], ids=str)
async def test_a_request_id_is_generated_when_none_usable_is_given(
    api: httpx.AsyncClient, given: str | None
) -> None:
    headers = {} if given is None else {"X-Request-ID": given}
    ids = {(await api.get("/healthz", headers=headers)).headers["x-request-id"] for _ in range(2)}
    assert len(ids) == 2
    for request_id in ids:
        assert request_id != given
        assert re.fullmatch(r"[0-9a-f]{32}", request_id)


async def test_queries_work_over_get(api: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
    token = await admin_session(conn)
    response = await api.get(
        "/graphql",
        params={"query": "{ viewer { kind } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.json() == {"data": {"viewer": {"kind": "STAFF"}}}


async def test_mutations_over_get_are_refused(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    token = await admin_session(conn)
    mutation = """mutation { updateGeneralSettings(input: {clientDisplayFormat: COMPANY_IF_SET})
                  { errors { code } } }"""
    response = await api.get(
        "/graphql", params={"query": mutation}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code in (400, 405)
    assert "mutations are not allowed" in response.text.lower()
    assert await conn.fetchval("SELECT count(*) FROM settings") == 0
    # The same mutation is accepted as a POST.
    assert (await gql(api, mutation, token=token))["data"]["updateGeneralSettings"]["errors"] == []
    assert await conn.fetchval("SELECT count(*) FROM settings") == 1


def aliased_viewers(count: int) -> str:
    return "{ " + " ".join(f"v{n}: viewer {{ kind }}" for n in range(count)) + " }"


async def test_queries_with_too_many_aliases_are_refused(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    allowed = await gql(api, aliased_viewers(settings.max_query_aliases))
    assert len(allowed["data"]) == settings.max_query_aliases

    body = await gql(api, aliased_viewers(settings.max_query_aliases + 1), allow_errors=True)
    assert "data" not in body or body["data"] is None
    assert any("aliases" in m for m in error_messages(body)), body


def listed_statuses(tokens: int) -> str:
    """A query of exactly `tokens` tokens: 12 of them, then a list of statuses."""
    return "{ clients(status: [" + "ACTIVE " * (tokens - 12) + "]) { totalCount } }"


async def test_queries_with_too_many_tokens_are_refused(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    # At the limit the query is parsed, run, and meets the permission check.
    allowed = await gql(api, listed_statuses(settings.max_query_tokens), allow_errors=True)
    assert [e["extensions"]["code"] for e in allowed["errors"]] == ["UNAUTHENTICATED"]

    body = await gql(api, listed_statuses(settings.max_query_tokens + 1), allow_errors=True)
    assert "data" not in body or body["data"] is None
    assert any(
        f"more than {settings.max_query_tokens} tokens" in m for m in error_messages(body)
    ), body


DEEP = "{ clients { edges { node { address { city } } } } }"  # depth 4
SHALLOW = "{ clients { pageInfo { hasNextPage } } }"  # depth 2


async def test_queries_nested_too_deep_are_refused(pool: asyncpg.Pool, settings: Settings) -> None:
    # The schema is not deep enough to pass the default limit with real fields; a lower one
    # shows the setting is enforced.
    async with serve(settings.model_copy(update={"max_query_depth": 3})) as api:
        body = await gql(api, DEEP, allow_errors=True)
        assert "data" not in body or body["data"] is None
        assert any("exceeds maximum operation depth of 3" in m for m in error_messages(body))

        # Within the limit the query runs (and meets the permission check instead).
        body = await gql(api, SHALLOW, allow_errors=True)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_the_default_depth_limit_is_enforced(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    depth = settings.max_query_depth + 1
    nested = (
        "{ clients { edges { node " + "{ address " * depth + "{ city }" + " }" * depth + " } } }"
    )
    body = await gql(api, nested, allow_errors=True)
    assert any(
        f"exceeds maximum operation depth of {settings.max_query_depth}" in m
        for m in error_messages(body)
    )


async def test_invalid_fields_get_no_suggestion(api: httpx.AsyncClient) -> None:
    body = await gql(api, "{ viewr { kind } }", allow_errors=True)
    messages = error_messages(body)
    assert messages and "viewr" in messages[0]
    assert not any("Did you mean" in m or "viewer" in m for m in messages)


async def test_unexpected_errors_are_masked_and_logged_with_the_request_id(
    api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = await admin_session(conn)

    async def broken(conn: asyncpg.Connection) -> None:
        raise RuntimeError("connection string postgres://secret@db")

    monkeypatch.setattr(domain.settings, "get_general_settings", broken)
    request_id = uuid.uuid4().hex
    with caplog.at_level(logging.ERROR, logger="clientdesk.graphql"):
        response = await api.post(
            "/graphql",
            json={"query": "{ generalSettings { clientDisplayFormat } }"},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": request_id},
        )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"] == [
        {
            "message": "Internal error.",
            "locations": [{"line": 1, "column": 3}],
            "path": ["generalSettings"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        }
    ]
    assert "secret" not in response.text
    # Staff can find the real error in the log by the id the client was given.
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert isinstance(logged[0].exc_info[1], RuntimeError)


async def test_expected_errors_are_not_masked(api: httpx.AsyncClient) -> None:
    body = await gql(api, "{ generalSettings { clientDisplayFormat } }", allow_errors=True)
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    assert body["errors"][0]["message"] != "Internal error."


INTROSPECTION = "{ __schema { queryType { name } } }"


async def test_development_allows_introspection(api: httpx.AsyncClient) -> None:
    body = await gql(api, INTROSPECTION)
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_production_refuses_introspection_and_serves_no_graphiql(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    async with serve(settings.model_copy(update={"environment": "production"})) as api:
        body = await gql(api, INTROSPECTION, allow_errors=True)
        assert "data" not in body or body["data"] is None
        assert any("introspection" in m.lower() for m in error_messages(body)), body

        page = await api.get("/graphql", headers=HTML)
        assert page.status_code == 404
        assert "GraphiQL" not in page.text

        # The API itself still works.
        assert await gql(api, "{ viewer { kind } }") == {"data": {"viewer": None}}
