"""Automatic persisted queries (Apollo's protocol) kept in Redis for every API process, and
the allow-list of persisted operations for production (issue 19)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from app.http_negotiation import GRAPHQL_RESPONSE
from app.persisted_queries import sha256_hex
from app.settings import Settings
from tests.api.test_serving import serve

QUERY = "query Typename { __typename }"
MUTATION = "mutation Logout { logout }"
# More aliases than MAX_QUERY_ALIASES (30) and valid: refused by the query limits only.
TOO_BIG = "query Big { " + " ".join(f"a{n}: __typename" for n in range(31)) + " }"


def persisted(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def by_hash(api: httpx.AsyncClient, document: str, **headers: str) -> httpx.Response:
    return await api.post(
        "/graphql", json={"extensions": persisted(sha256_hex(document))}, headers=headers
    )


async def with_query(api: httpx.AsyncClient, document: str, digest: str | None = None) -> Any:
    response = await api.post(
        "/graphql",
        json={"query": document, "extensions": persisted(digest or sha256_hex(document))},
    )
    return response.json()


def codes(response: httpx.Response) -> list[str]:
    return [error["extensions"]["code"] for error in response.json().get("errors", [])]


async def test_an_unknown_hash_is_persisted_query_not_found(api: httpx.AsyncClient) -> None:
    response = await by_hash(api, QUERY)
    # A 200, as Apollo Client before 3.8 expects to send the query next.
    assert response.status_code == 200, response.text
    [error] = response.json()["errors"]
    assert error["message"] == "PersistedQueryNotFound"
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    spec = await by_hash(api, QUERY, accept=GRAPHQL_RESPONSE)
    assert spec.status_code == 400
    assert codes(spec) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_a_query_sent_with_its_hash_runs_and_then_runs_by_its_hash(
    api: httpx.AsyncClient,
) -> None:
    assert await with_query(api, QUERY) == {"data": {"__typename": "Query"}}
    posted = await by_hash(api, QUERY)
    assert posted.json() == {"data": {"__typename": "Query"}}
    got = await api.get("/graphql", params={"extensions": json.dumps(persisted(sha256_hex(QUERY)))})
    assert got.json() == {"data": {"__typename": "Query"}}


async def test_a_stored_mutation_over_get_is_still_a_405(api: httpx.AsyncClient) -> None:
    await with_query(api, MUTATION)
    got = await api.get(
        "/graphql", params={"extensions": json.dumps(persisted(sha256_hex(MUTATION)))}
    )
    assert got.status_code == 405
    assert got.headers["allow"] == "POST"


async def test_a_hash_that_is_not_the_querys_is_refused_and_nothing_is_kept(
    api: httpx.AsyncClient,
) -> None:
    other = sha256_hex("{ me { id } }")
    body = await with_query(api, QUERY, digest=other)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["PERSISTED_QUERY_HASH_MISMATCH"]
    assert "data" not in body
    response = await api.post("/graphql", json={"extensions": persisted(other)})
    assert codes(response) == ["PERSISTED_QUERY_NOT_FOUND"]


@pytest.mark.parametrize(
    "extension",
    [{"version": 2, "sha256Hash": "0" * 64}, {"version": 1, "sha256Hash": "nothex"}, "x"],
)
async def test_a_malformed_persisted_query_extension_is_a_bad_request(
    api: httpx.AsyncClient, extension: Any
) -> None:
    response = await api.post("/graphql", json={"extensions": {"persistedQuery": extension}})
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (TOO_BIG, "QUERY_LIMIT_EXCEEDED"),
        ("{ noSuchField }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ __typename", "GRAPHQL_PARSE_FAILED"),
    ],
)
async def test_a_document_that_did_not_run_is_not_kept(
    api: httpx.AsyncClient, document: str, code: str
) -> None:
    body = await with_query(api, document)
    assert [e["extensions"]["code"] for e in body["errors"]] == [code]
    assert codes(await by_hash(api, document)) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_documents_are_kept_in_redis_for_every_api_process_for_a_while(
    settings: Settings, api: httpx.AsyncClient
) -> None:
    async with serve(settings) as other_process:
        await with_query(other_process, QUERY)
    assert (await by_hash(api, QUERY)).json() == {"data": {"__typename": "Query"}}
    redis = Redis.from_url(settings.redis_url)
    try:
        ttl = await redis.ttl(f"persisted-query:{sha256_hex(QUERY)}")
    finally:
        await redis.aclose()
    assert 0 < ttl <= settings.persisted_query_ttl_seconds


async def test_a_document_over_the_size_limit_runs_but_is_not_kept(settings: Settings) -> None:
    big = "query Big { __typename " + "__typename " * 40 + "}"
    async with serve(settings.model_copy(update={"persisted_query_max_bytes": 256})) as api:
        assert (await with_query(api, big))["data"] == {"__typename": "Query"}
        assert codes(await by_hash(api, big)) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_with_apq_off_a_hash_is_persisted_query_not_supported(settings: Settings) -> None:
    async with serve(settings.model_copy(update={"automatic_persisted_queries": False})) as api:
        response = await by_hash(api, QUERY)
        [error] = response.json()["errors"]
        assert error["message"] == "PersistedQueryNotSupported"
        assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"
        assert (await with_query(api, QUERY))["errors"][0]["message"] == (
            "PersistedQueryNotSupported"
        )
        ran = await api.post("/graphql", json={"query": QUERY})
        assert ran.json() == {"data": {"__typename": "Query"}}


def apollo_manifest(path: Path, documents: list[str]) -> Path:
    operations = [
        {"id": sha256_hex(d), "name": "op", "type": "query", "body": d} for d in documents
    ]
    path.write_text(
        json.dumps(
            {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
        )
    )
    return path


@pytest.mark.parametrize("style", ["apollo", "relay"])
async def test_with_an_allow_list_only_its_operations_run(
    settings: Settings, tmp_path: Path, style: str
) -> None:
    manifest = tmp_path / "manifest.json"
    if style == "apollo":
        apollo_manifest(manifest, [QUERY, TOO_BIG])
    else:  # Relay's: its own ids, whatever hash they are
        manifest.write_text(json.dumps({"relay-1": QUERY, sha256_hex(TOO_BIG): TOO_BIG}))
    listed_id = sha256_hex(QUERY) if style == "apollo" else "relay-1"
    async with serve(settings.model_copy(update={"persisted_queries_manifest": manifest})) as api:
        by_id = await api.post("/graphql", json={"extensions": persisted(listed_id)})
        if style == "apollo":
            assert by_id.json() == {"data": {"__typename": "Query"}}
        # The exact text of a listed operation runs too.
        text = await api.post("/graphql", json={"query": QUERY})
        assert text.json() == {"data": {"__typename": "Query"}}
        # A listed document is still held to the query limits.
        assert codes(await by_hash(api, TOO_BIG)) == ["QUERY_LIMIT_EXCEEDED"]
        for refused in (
            await api.post("/graphql", json={"query": "{ me { id } }"}),
            await by_hash(api, "{ me { id } }"),
            await api.post(
                "/graphql",
                json={"query": "{ me { id } }", "extensions": persisted(sha256_hex(QUERY))},
            ),
        ):
            assert refused.status_code == 400, refused.text
            assert codes(refused) == ["PERSISTED_QUERY_NOT_IN_LIST"]
        # Nothing is registered: the list is all there is.
        await with_query(api, "{ me { id } }")
        assert codes(await by_hash(api, "{ me { id } }")) == ["PERSISTED_QUERY_NOT_IN_LIST"]
