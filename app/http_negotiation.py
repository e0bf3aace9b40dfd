"""Which JSON a GraphQL request is answered with, and the status codes that go with it
(the GraphQL-over-HTTP spec, graphql.github.io/graphql-over-http).

A client that prefers `application/graphql-response+json` is told, by the status code,
whether its request ran: 200 once it executed (field errors included), 4xx when the document
did not parse or validate and so never ran. Any other client gets `application/json` with
the answers it always got (200 whenever GraphQL answered): that is the spec's legacy
behaviour, which clients written before it rely on.
"""

from __future__ import annotations

from strawberry.types import ExecutionResult

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
# What an Accept entry may name for each type we answer with, most specific first.
_MATCHES = {
    GRAPHQL_RESPONSE: (GRAPHQL_RESPONSE, "application/*", "*/*"),
    JSON: (JSON, "application/*", "*/*"),
}


def _weights(accept: str) -> dict[str, float]:
    """Each media range of an Accept header with its q (1 when not given)."""
    weights: dict[str, float] = {}
    for entry in accept.split(","):
        media, *parameters = (part.strip() for part in entry.split(";"))
        if not media:
            continue
        q = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[media.lower()] = max(q, weights.get(media.lower(), 0.0))
    return weights


def _weight(weights: dict[str, float], media_type: str) -> float:
    """The q of `media_type`: the one of the most specific range naming it."""
    for media_range in _MATCHES[media_type]:
        if media_range in weights:
            return weights[media_range]
    return 0.0


def response_media_type(accept: str | None) -> str | None:
    """The type to answer a request with `accept` as its Accept header; None when it
    accepts neither (406). No Accept, or a wildcard, keeps today's `application/json`; the
    new type only when the client names it and likes it at least as much."""
    if not accept or not accept.strip():
        return JSON
    weights = _weights(accept)
    spec, legacy = _weight(weights, GRAPHQL_RESPONSE), _weight(weights, JSON)
    if GRAPHQL_RESPONSE in weights and spec > 0 and spec >= legacy:
        return GRAPHQL_RESPONSE
    if legacy > 0:
        return JSON
    return None


def is_request_error(result: ExecutionResult) -> bool:
    """Whether the operation never ran: its document did not parse or validate, or its
    variables did not fit (errors, no data, none of them raised at a field's path)."""
    errors = result.errors or []
    return result.data is None and bool(errors) and not any(e.path for e in errors)


class RequestRefused(Exception):
    """A request refused before its operation runs, answered as a GraphQL error with this
    `extensions.code`, status and headers."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def status_for(self, media_type: str) -> int:
        """Its status; at least 400 for a client that asked for the spec's answers (a
        refused request has no `data`), whatever the legacy answer was."""
        return max(self.status, 400) if media_type == GRAPHQL_RESPONSE else self.status
