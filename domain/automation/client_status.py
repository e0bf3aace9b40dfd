"""Client status from what the client holds (SPEC 9.1–9.3), two statements over all clients.

Active items are ACTIVE or SUSPENDED services and addons and ACTIVE or PENDING_TRANSFER
domains. CLOSED clients are never touched; staff close and reopen accounts by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import asyncpg

from domain.automation.settings import AutomationSettings

_HOLDS_ACTIVE_ITEMS = """(
    EXISTS (SELECT 1 FROM services s
             WHERE s.client_id = c.id AND s.status IN ('ACTIVE', 'SUSPENDED'))
    OR EXISTS (SELECT 1 FROM addons a
                WHERE a.client_id = c.id AND a.status IN ('ACTIVE', 'SUSPENDED'))
    OR EXISTS (SELECT 1 FROM domains d
                WHERE d.client_id = c.id AND d.status IN ('ACTIVE', 'PENDING_TRANSFER')))"""

# With the option on (SPEC 9.2), a client whose owner has not logged in to the client area
# for three months counts as inactive too; a client who never logged in counts from signup.
_AWAY = """($1 AND coalesce((SELECT l.last_login_at FROM logins l WHERE l.id = c.owner_login_id),
                           c.created_at) < ($2::date - interval '3 months'))"""


@dataclass(frozen=True)
class StatusChanges:
    deactivated: int
    activated: int


async def update_client_statuses(
    conn: asyncpg.Connection, *, as_of: date, settings: AutomationSettings
) -> StatusChanges:
    """Set INACTIVE the ACTIVE clients with nothing active (or away, with the option on),
    and ACTIVE again the INACTIVE ones who hold an active item (and are not away)."""
    if not settings.change_client_status:
        return StatusChanges(deactivated=0, activated=0)
    away = settings.inactive_after_three_months_without_login
    deactivated = await conn.fetchval(
        f"""WITH changed AS (
                UPDATE clients c SET status = 'INACTIVE', updated_at = now()
                 WHERE c.status = 'ACTIVE' AND (NOT {_HOLDS_ACTIVE_ITEMS} OR {_AWAY})
                RETURNING 1)
            SELECT count(*) FROM changed""",
        away,
        as_of,
    )
    activated = await conn.fetchval(
        f"""WITH changed AS (
                UPDATE clients c SET status = 'ACTIVE', updated_at = now()
                 WHERE c.status = 'INACTIVE' AND {_HOLDS_ACTIVE_ITEMS} AND NOT {_AWAY}
                RETURNING 1)
            SELECT count(*) FROM changed""",
        away,
        as_of,
    )
    return StatusChanges(deactivated=deactivated, activated=activated)
