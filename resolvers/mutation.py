"""The skeleton every mutation resolver shares: the viewer, one transaction around the use
case, and a payload of user errors when the use case refuses.

A resolver states only what differs: the work to do inside the transaction, the payload
type that carries a refusal, and, where the payload must read what the transaction wrote
through the request's loaders (other connections), how to present the result after commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, overload

import asyncpg
from strawberry.types import Info

from domain.auth.viewer import Viewer
from domain.errors import DomainError
from resolvers.context import Context
from schema.common import UserError, user_errors

P = TypeVar("P")
R = TypeVar("R")
P_co = TypeVar("P_co", covariant=True)


class Refusal(Protocol[P_co]):
    """A payload type: made with only its `errors`, every result field left null."""

    def __call__(self, *, errors: list[UserError]) -> P_co: ...


@overload
async def perform(
    info: Info[Context, None],
    work: Callable[[asyncpg.Connection, Viewer], Awaitable[P]],
    refused: Refusal[P],
    *,
    hashing_password: bool = False,
) -> P: ...


@overload
async def perform(
    info: Info[Context, None],
    work: Callable[[asyncpg.Connection, Viewer], Awaitable[R]],
    refused: Refusal[P],
    *,
    present: Callable[[R], Awaitable[P]],
    hashing_password: bool = False,
) -> P: ...


async def perform(
    info: Info[Context, None],
    work: Callable[[asyncpg.Connection, Viewer], Awaitable[Any]],
    refused: Refusal[Any],
    *,
    present: Callable[[Any], Awaitable[Any]] | None = None,
    hashing_password: bool = False,
) -> Any:
    """Run `work(conn, viewer)` in one transaction (budgeted when it hashes a password) and
    return its payload, or `present(result)` after the commit; a DomainError raised by the
    work rolls everything back and becomes `refused(errors=…)`."""
    viewer = await info.context.get_viewer()
    assert viewer is not None  # the root field's permission class saw to that
    outcome = await _transact(info.context, lambda conn: work(conn, viewer), hashing_password)
    return await _settle(outcome, refused, present)


@overload
async def perform_public(
    info: Info[Context, None],
    work: Callable[[asyncpg.Connection], Awaitable[P]],
    refused: Refusal[P],
    *,
    hashing_password: bool = False,
) -> P: ...


@overload
async def perform_public(
    info: Info[Context, None],
    work: Callable[[asyncpg.Connection], Awaitable[R]],
    refused: Refusal[P],
    *,
    present: Callable[[R], Awaitable[P]],
    hashing_password: bool = False,
) -> P: ...


async def perform_public(
    info: Info[Context, None],
    work: Callable[[asyncpg.Connection], Awaitable[Any]],
    refused: Refusal[Any],
    *,
    present: Callable[[Any], Awaitable[Any]] | None = None,
    hashing_password: bool = False,
) -> Any:
    """`perform` for a root field anyone may call, whose authority is what it is given (an
    emailed link's token, say): `work(conn)` gets no viewer."""
    return await _settle(await _transact(info.context, work, hashing_password), refused, present)


async def refusing(refused: Refusal[P], attempt: Callable[[], Awaitable[P]]) -> P:
    """`attempt()`'s payload, or `refused(errors=…)` when it raises a DomainError: for what
    must happen outside `perform`'s transaction, such as checks that spare a password
    budget or the copy of an upload, or a use case that runs its own transactions."""
    try:
        return await attempt()
    except DomainError as error:
        return refused(errors=user_errors(error))


async def _settle(
    outcome: Any, refused: Refusal[Any], present: Callable[[Any], Awaitable[Any]] | None
) -> Any:
    """The payload of a refusal, of the work itself, or of `present` after the commit."""
    if isinstance(outcome, DomainError):
        return refused(errors=user_errors(outcome))
    return outcome if present is None else await present(outcome)


async def _transact(
    ctx: Context, work: Callable[[asyncpg.Connection], Awaitable[R]], hashing_password: bool
) -> R | DomainError:
    """The work's result, or the DomainError that refused it and rolled everything back."""
    try:
        async with ctx.transaction(hashing_password=hashing_password) as conn:
            return await work(conn)
    except DomainError as error:
        return error
