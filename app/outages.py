"""Outages: failures that mean PostgreSQL or Redis cannot be reached right now.

A request that meets one did nothing wrong and may well succeed a few seconds later, so it is
answered as retryable — `extensions.code` SERVICE_UNAVAILABLE, HTTP 503 with Retry-After —
and logged as one warning line, not masked as an internal error with a traceback."""

from __future__ import annotations

import logging

import asyncpg
import redis.exceptions
from strawberry.http import GraphQLHTTPResponse

from app.db import DatabaseUnreachable

SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
OUTAGE_MESSAGE = "The service is unavailable for a moment. Try again in a few seconds."

_OUTAGES = (
    # No connection to be had: refused, no socket, or none in time (app.db).
    DatabaseUnreachable,
    # The connection was lost (class 08), or the server is stopping or starting (57P0x).
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    # redis-py raises these for refused, lost and timed-out connections (the queue's too).
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
# How asyncpg refuses a statement on a connection that got the server's FATAL message while
# idle (a shutdown), just before it sees the connection close: its protocol is stuck
# consuming that error (state 2), and says so in an InternalClientError.
_DYING_CONNECTION = "another operation (2) is in progress"
# Redis refusing our credentials is a mistake in the settings: waiting will not mend it.
_MISCONFIGURATIONS = (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError)


def outage_cause(error: BaseException | None) -> BaseException | None:
    """The outage `error` is, or was raised from or while handling, if any.

    The chain matters: a transaction's rollback on a connection PostgreSQL closed raises an
    asyncpg InterfaceError, whose context is the lost connection."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if _names_outage(current):
            return current
        pending += (current.__cause__, current.__context__)
    return None


def _names_outage(error: BaseException) -> bool:
    if isinstance(error, asyncpg.exceptions.InternalClientError):
        return _DYING_CONNECTION in str(error)
    return isinstance(error, _OUTAGES) and not isinstance(error, _MISCONFIGURATIONS)


def is_outage(error: BaseException | None) -> bool:
    return outage_cause(error) is not None


def log_failure(
    logger: logging.Logger, error: BaseException | None, message: str, *args: object
) -> BaseException | None:
    """Log `message % args` about `error`: as an error with its traceback, or, when it is
    an outage, as a warning naming it, without one (every request meets it until the
    dependency is back). Returns the outage, if it is one."""
    outage = outage_cause(error)
    if outage is None:
        logger.error(message, *args, exc_info=error)
    else:
        logger.warning(f"{message} (unavailable: %s: %s)", *args, type(outage).__name__, outage)
    return outage


def reports_outage(response: GraphQLHTTPResponse | list[GraphQLHTTPResponse]) -> bool:
    """Whether a GraphQL response (or any of a batch) has a SERVICE_UNAVAILABLE error."""
    results = response if isinstance(response, list) else [response]
    return any(
        isinstance(error, dict)
        and (error.get("extensions") or {}).get("code") == SERVICE_UNAVAILABLE
        for result in results
        for error in result.get("errors") or ()
    )
