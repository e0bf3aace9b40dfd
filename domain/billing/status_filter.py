"""The product status filter of a staff session (SPEC 1.9): which statuses a client's
services, addons and domains lists show, remembered with the login session for every client
until it ends. Services and addons share a choice of service statuses; domains, whose
statuses differ, have a choice of their own."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import asyncpg

from domain.billing.models import DomainStatus, ItemKind, ServiceStatus


@dataclass(frozen=True)
class StatusFilter:
    """What a session chose; None for a part: nothing chosen, every status shown."""

    services: frozenset[ServiceStatus] | None = None  # services and addons
    domains: frozenset[DomainStatus] | None = None

    def of(self, kind: ItemKind) -> frozenset[StrEnum] | None:
        """The statuses the lists of items of `kind` show."""
        return self.domains if kind is ItemKind.DOMAIN else self.services

    def choosing(self, kind: ItemKind, statuses: Iterable[str]) -> StatusFilter:
        """This filter with the choice for items of `kind` replaced by `statuses`."""
        if kind is ItemKind.DOMAIN:
            return StatusFilter(self.services, frozenset(DomainStatus(s) for s in statuses))
        return StatusFilter(frozenset(ServiceStatus(s) for s in statuses), self.domains)


NOTHING_CHOSEN = StatusFilter()


def stored_filter(services: Iterable[str] | None, domains: Iterable[str] | None) -> StatusFilter:
    """A session's stored columns, read (`sessions.Session` brings them with the session)."""
    return StatusFilter(
        None if services is None else frozenset(ServiceStatus(s) for s in services),
        None if domains is None else frozenset(DomainStatus(s) for s in domains),
    )


async def status_filter(conn: asyncpg.Connection, session_id: int) -> StatusFilter:
    """What this session chose (NOTHING_CHOSEN for an unknown session)."""
    row = await conn.fetchrow(
        "SELECT service_status_filter, domain_status_filter FROM sessions WHERE id = $1",
        session_id,
    )
    if row is None:
        return NOTHING_CHOSEN
    return stored_filter(row["service_status_filter"], row["domain_status_filter"])


async def remember_status_filter(
    conn: asyncpg.Connection, session_id: int, chosen: StatusFilter
) -> None:
    """Keep the choice with the session: it lasts, for every client, until the session ends
    (or is cleared: NOTHING_CHOSEN)."""

    def stored(part: frozenset[ServiceStatus] | frozenset[DomainStatus] | None) -> list[str] | None:
        return None if part is None else sorted(s.value for s in part)

    await conn.execute(
        """UPDATE sessions SET service_status_filter = $2, domain_status_filter = $3
            WHERE id = $1""",
        session_id,
        stored(chosen.services),
        stored(chosen.domains),
    )
