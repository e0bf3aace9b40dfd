"""Persisted queries: Apollo's automatic persisted queries (APQ), and an optional allow-list
of the operations a production installation runs.

APQ: a client sends `extensions.persistedQuery = {version: 1, sha256Hash}` without the
query; when the hash is unknown it is answered `PersistedQueryNotFound`, sends the query with
the hash, and from then on the hash alone runs it. The documents are kept in Redis, which
every API process shares (a document registered through one host runs through all of them),
each for a while (`PERSISTED_QUERY_TTL_SECONDS`) and only up to a size
(`PERSISTED_QUERY_MAX_BYTES`); only documents that ran are kept, so a stranger cannot fill
Redis with text that is not even GraphQL.

The allow-list (`PERSISTED_QUERIES_MANIFEST`, a manifest file as Apollo's and Relay's tools
write them) replaces APQ: only the operations it lists run, by their id or by their exact
text, and nothing is registered. Either way a document runs through the same parser,
validation and query limits as any other.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from redis.asyncio import Redis

from app.graphql_codes import (
    BAD_REQUEST,
    PERSISTED_QUERY_HASH_MISMATCH,
    PERSISTED_QUERY_NOT_FOUND,
    PERSISTED_QUERY_NOT_IN_LIST,
    PERSISTED_QUERY_NOT_SUPPORTED,
)
from app.http_negotiation import RequestRefused

log = logging.getLogger("clientdesk.persisted_queries")

_KEY_PREFIX = "persisted-query:"
_SHA256 = re.compile(r"[0-9a-f]{64}")
# The manifest format Apollo's generate-persisted-query-manifest writes.
APOLLO_MANIFEST_FORMAT = "apollo-persisted-query-manifest"


class PersistedQueryRefused(RequestRefused):
    """A persisted-query request that cannot run. As `application/json`,
    `PersistedQueryNotFound` is a 200, as Apollo Client before 3.8 expects to send the query."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(status, code, message)


def sha256_hex(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Lookup:
    """The document a request runs, and what keeps it once it ran (APQ's query-and-hash
    request), if anything."""

    query: str | None
    keep: Callable[[], Awaitable[None]] | None = None


def _requested_hash(extensions: Mapping[str, Any] | None) -> str | None:
    """The `sha256Hash` of a request's `extensions.persistedQuery`; None without one."""
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise PersistedQueryRefused(
            BAD_REQUEST,
            "extensions.persistedQuery must be {version: 1, sha256Hash: …}.",
        )
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise PersistedQueryRefused(
            BAD_REQUEST,
            "extensions.persistedQuery.sha256Hash must be 64 lowercase hexadecimal digits.",
        )
    return digest


class PersistedQueries(Protocol):
    """Where a request's document comes from: APQ, or the allow-list."""

    async def lookup(self, query: str | None, extensions: Mapping[str, Any] | None) -> Lookup: ...


class NoPersistedQueries:
    """APQ turned off: a request's own document, and `PersistedQueryNotSupported` for a
    hash, which tells Apollo clients to send their queries in full from then on."""

    async def lookup(self, query: str | None, extensions: Mapping[str, Any] | None) -> Lookup:
        if _requested_hash(extensions) is not None:
            raise PersistedQueryRefused(
                PERSISTED_QUERY_NOT_SUPPORTED, "PersistedQueryNotSupported", status=200
            )
        return Lookup(query)


NO_PERSISTED_QUERIES = NoPersistedQueries()


class AutomaticPersistedQueries:
    """APQ with its documents in Redis."""

    def __init__(self, redis: Redis, *, ttl_seconds: int, max_bytes: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._max_bytes = max_bytes

    async def lookup(self, query: str | None, extensions: Mapping[str, Any] | None) -> Lookup:
        digest = _requested_hash(extensions)
        if digest is None:
            return Lookup(query)
        if query is None:
            stored = await self._redis.get(_KEY_PREFIX + digest)
            if stored is None:
                raise PersistedQueryRefused(
                    PERSISTED_QUERY_NOT_FOUND, "PersistedQueryNotFound", status=200
                )
            return Lookup(stored.decode("utf-8") if isinstance(stored, bytes) else stored)
        if sha256_hex(query) != digest:
            raise PersistedQueryRefused(
                PERSISTED_QUERY_HASH_MISMATCH,
                "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query.",
            )
        if len(query.encode("utf-8")) > self._max_bytes:
            return Lookup(query)  # too big to keep: it runs, and is sent in full each time
        return Lookup(query, keep=functools.partial(self._keep, digest, query))

    async def _keep(self, digest: str, query: str) -> None:
        """Keep a document that ran; a Redis failure here only costs the client a resend."""
        try:
            await self._redis.set(_KEY_PREFIX + digest, query, ex=self._ttl)
        except Exception as error:
            log.warning("could not keep persisted query %s: %r", digest, error)


class PersistedQueryList:
    """The allow-list: the operations of a manifest, and nothing else."""

    def __init__(self, documents: Mapping[str, str]) -> None:
        self._by_id = dict(documents)
        self._texts = {sha256_hex(text) for text in documents.values()}

    @classmethod
    def read(cls, path: Path) -> PersistedQueryList:
        """A manifest: Apollo's (`{"format": "apollo-persisted-query-manifest", "operations":
        [{"id", "body", …}]}`) or Relay's (`{"<id>": "<document>", …}`)."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("format") == APOLLO_MANIFEST_FORMAT:
            documents = {op["id"]: op["body"] for op in data["operations"]}
        else:
            documents = data
        if not isinstance(documents, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in documents.items()
        ):
            raise ValueError(f"{path}: not a persisted-query manifest (Apollo's or Relay's)")
        return cls(documents)

    async def lookup(self, query: str | None, extensions: Mapping[str, Any] | None) -> Lookup:
        digest = _requested_hash(extensions)
        listed = self._by_id.get(digest) if digest is not None else None
        if listed is not None and query in (None, listed):
            return Lookup(listed)
        if digest is None and query is not None and sha256_hex(query) in self._texts:
            return Lookup(query)
        raise PersistedQueryRefused(
            PERSISTED_QUERY_NOT_IN_LIST,
            "This installation runs only the operations of its persisted-query list.",
        )
