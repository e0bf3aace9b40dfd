"""CORS: the dashboards of CORS_ORIGINS may call the API from a browser, with credentials;
no other origin gets any CORS permission."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from pydantic import ValidationError

from app.settings import Settings
from app.web import create_app

DASHBOARD = "https://dash.example.com"
OTHER_SITE = "https://evil.example.net"
VIEWER = {"query": "{ viewer { kind } }"}


@pytest.fixture
async def cors_api(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """The app with two dashboards configured."""
    configured = settings.model_copy(update={"cors_origins": f"{DASHBOARD}, http://localhost:3000"})
    app = create_app(configured)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def preflight_headers(origin: str, method: str = "POST", headers: str = "content-type") -> dict:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


async def test_a_listed_dashboard_may_send_credentialed_graphql_requests(
    cors_api: httpx.AsyncClient,
) -> None:
    asked = preflight_headers(DASHBOARD, headers="Content-Type, Authorization")

    preflight = await cors_api.options("/graphql", headers=asked)
    response = await cors_api.post("/graphql", json=VIEWER, headers={"Origin": DASHBOARD})

    assert preflight.status_code == 200
    allowed = cors_headers(preflight)
    assert allowed["access-control-allow-origin"] == DASHBOARD
    assert allowed["access-control-allow-credentials"] == "true"
    assert "POST" in allowed["access-control-allow-methods"]
    assert {"authorization", "content-type"} <= set(
        allowed["access-control-allow-headers"].split(", ")
    )
    assert response.status_code == 200 and response.json() == {"data": {"viewer": None}}
    assert cors_headers(response) == {
        "access-control-allow-origin": DASHBOARD,
        "access-control-allow-credentials": "true",
        "access-control-expose-headers": "x-request-id",
    }
    assert "Origin" in response.headers["vary"]


async def test_every_listed_origin_is_allowed(cors_api: httpx.AsyncClient) -> None:
    response = await cors_api.options(
        "/graphql", headers=preflight_headers("http://localhost:3000")
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"


@pytest.mark.parametrize(
    "origin",
    [OTHER_SITE, "https://dash.example.com.evil.example.net", "http://dash.example.com", "null"],
)
async def test_an_unlisted_origin_is_refused_and_gets_no_cors_header(
    cors_api: httpx.AsyncClient, origin: str
) -> None:
    preflight = await cors_api.options("/graphql", headers=preflight_headers(origin))
    response = await cors_api.post("/graphql", json=VIEWER, headers={"Origin": origin})

    assert preflight.status_code == 400
    assert cors_headers(preflight) == {}
    # The browser sends it only after a successful preflight; if it comes anyway, the page
    # may not read the answer.
    assert cors_headers(response) == {}
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize(
    ("method", "headers"),
    [("PUT", "content-type"), ("DELETE", ""), ("POST", "content-type, x-something-else")],
)
async def test_a_listed_origin_may_not_use_other_methods_or_headers(
    cors_api: httpx.AsyncClient, method: str, headers: str
) -> None:
    response = await cors_api.options(
        "/graphql", headers=preflight_headers(DASHBOARD, method, headers)
    )

    assert response.status_code == 400
    assert cors_headers(response) == {}


async def test_without_cors_origins_every_origin_is_refused(api: httpx.AsyncClient) -> None:
    preflight = await api.options("/graphql", headers=preflight_headers(DASHBOARD))
    response = await api.post("/graphql", json=VIEWER, headers={"Origin": DASHBOARD})

    assert preflight.status_code == 400
    assert cors_headers(preflight) == {} and cors_headers(response) == {}


async def test_same_origin_and_non_browser_requests_are_untouched(
    cors_api: httpx.AsyncClient,
) -> None:
    response = await cors_api.post("/graphql", json=VIEWER)

    assert response.status_code == 200
    assert cors_headers(response) == {}


def test_cors_origins_is_a_comma_separated_list_of_origins() -> None:
    settings = Settings(
        _env_file=None, cors_origins=" https://a.example.com ,http://localhost:3000,"
    )

    assert settings.cors_origin_list == ["https://a.example.com", "http://localhost:3000"]
    assert Settings(_env_file=None).cors_origin_list == []


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "https://dash.example.com/",
        "https://dash.example.com/app",
        "dash.example.com",
        "ftp://dash.example.com",
        "https://user@dash.example.com",
        "https://Dash.example.com",
        "https://a.example.com, *",
    ],
)
def test_cors_origins_refuses_what_is_not_an_exact_origin(value: str) -> None:
    with pytest.raises(ValidationError, match="CORS_ORIGINS"):
        Settings(_env_file=None, cors_origins=value)
