"""Requests refused before any GraphQL runs are still answered as GraphQL: JSON with an
`errors` list whose entries carry `extensions.code` (issue 19)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

UPLOAD = {
    "data": {
        "operations": '{"query": "mutation($f: Upload!) { __typename }", "variables": {"f": null}}',
        "map": '{"0": ["variables.f"]}',
    },
    "files": {"0": ("a.pdf", b"x", "application/pdf")},
}
REFUSED: dict[str, tuple[str, dict[str, Any], int, str]] = {
    "malformed JSON": (
        "POST",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        400,
        "BAD_REQUEST",
    ),
    "no query": ("POST", {"json": {}}, 400, "BAD_REQUEST"),
    "a batch": ("POST", {"json": [{"query": "{ __typename }"}]}, 400, "BAD_REQUEST"),
    "a mutation over GET": (
        "GET",
        {"params": {"query": "mutation { logout }"}},
        405,
        "METHOD_NOT_ALLOWED",
    ),
    "an upload without the CSRF header": ("POST", UPLOAD, 400, "BAD_REQUEST"),
}


@pytest.mark.parametrize("case", REFUSED)
async def test_a_request_refused_before_graphql_runs_gets_a_graphql_error(
    api: httpx.AsyncClient, case: str
) -> None:
    method, options, status, code = REFUSED[case]
    response = await api.request(method, "/graphql", **options)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    [error] = response.json()["errors"]
    assert error["message"]
    assert error["extensions"]["code"] == code
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
