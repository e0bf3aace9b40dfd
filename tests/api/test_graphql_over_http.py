"""The GraphQL-over-HTTP spec's answers for a client that asks for
`application/graphql-response+json`, today's for every other (issue 19)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.http_negotiation import GRAPHQL_RESPONSE, JSON, response_media_type

SPEC = {"accept": f"{GRAPHQL_RESPONSE}, {JSON};q=0.9"}
# Anonymous: `me` is refused at its field (UNAUTHENTICATED), after the operation started.
FIELD_ERROR = "query { me { id } }"


async def post(api: httpx.AsyncClient, query: str, headers: dict[str, str]) -> httpx.Response:
    return await api.post("/graphql", json={"query": query}, headers=headers)


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body["errors"]]


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/json", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", GRAPHQL_RESPONSE),
        (f"{JSON}, {GRAPHQL_RESPONSE};q=0.9", JSON),
        (f"{GRAPHQL_RESPONSE};q=0, */*", JSON),
        ("application/*", JSON),
        ("text/html", None),
        ("text/csv, application/json;q=0", None),
    ],
)
def test_the_response_type_is_the_one_the_accept_header_prefers(
    accept: str | None, chosen: str | None
) -> None:
    assert response_media_type(accept) == chosen


async def test_an_operation_that_ran_is_a_200_in_the_spec_type(api: httpx.AsyncClient) -> None:
    response = await post(api, "{ __typename }", SPEC)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_field_errors_are_a_200_in_the_spec_type(api: httpx.AsyncClient) -> None:
    response = await post(api, FIELD_ERROR, SPEC)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    body = response.json()
    assert "data" in body
    assert codes(body) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ __typename", "GRAPHQL_PARSE_FAILED"),
        ("{ noSuchField }", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_a_document_that_does_not_parse_or_validate_is_a_400_without_data(
    api: httpx.AsyncClient, query: str, code: str
) -> None:
    response = await post(api, query, SPEC)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    body = response.json()
    assert "data" not in body
    assert codes(body) == [code]


async def test_variables_that_do_not_fit_are_a_400_without_data(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/graphql",
        json={"query": "query($id: ID!) { client(id: $id) { id } }", "variables": {}},
        headers=SPEC,
    )
    assert response.status_code == 400, response.text
    assert "data" not in response.json()


@pytest.mark.parametrize("headers", [{}, {"accept": JSON}, {"accept": "*/*"}])
async def test_other_clients_keep_the_legacy_answers(
    api: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    refused = await post(api, "{ noSuchField }", headers)
    assert refused.status_code == 200, refused.text
    assert refused.headers["content-type"] == JSON
    assert refused.json()["data"] is None
    assert codes(refused.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    ran = await post(api, "{ __typename }", headers)
    assert (ran.status_code, ran.headers["content-type"]) == (200, JSON)


async def test_a_request_that_accepts_neither_json_type_is_a_406(api: httpx.AsyncClient) -> None:
    response = await post(api, "{ __typename }", {"accept": "text/csv"})
    assert response.status_code == 406, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "NOT_ACCEPTABLE"


async def test_http_level_refusals_come_in_the_spec_type(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/graphql",
        content=b"{not json",
        headers={**SPEC, "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert codes(response.json()) == ["BAD_REQUEST"]


@pytest.mark.parametrize("headers", [{}, SPEC])
async def test_a_mutation_over_get_is_a_405_that_allows_post(
    api: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await api.get("/graphql", params={"query": "mutation { logout }"}, headers=headers)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    assert codes(response.json()) == ["METHOD_NOT_ALLOWED"]


async def test_graphiql_is_still_served_to_a_browser(api: httpx.AsyncClient) -> None:
    response = await api.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
