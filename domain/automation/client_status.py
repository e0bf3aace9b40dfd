"""Client status from what the client holds (SPEC 9.1–9.3), one statement over all clients.

Active items are ACTIVE or SUSPENDED services and addons and ACTIVE or PENDING_TRANSFER
domains. CLOSED clients are never touched; staff close and reopen accounts by hand.

The statement reads every client once against the set of clients holding an active item
(hash or merge joins, no probe per client) and writes only the clients whose status really
changes. Those writes are HOT updates: `status` is in no index and the table keeps room on
its pages (migrations 0018, 0020), so a status change leaves the clients' indexes alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import asyncpg

from domain.automation.settings import AutomationSettings

_HOLDERS = """
    SELECT client_id FROM services WHERE status IN ('ACTIVE', 'SUSPENDED')
    UNION SELECT client_id FROM addons WHERE status IN ('ACTIVE', 'SUSPENDED')
    UNION SELECT client_id FROM domains WHERE status IN ('ACTIVE', 'PENDING_TRANSFER')"""

# With the option on (SPEC 9.2), a client whose owner has not logged in to the client area
# for three months counts as inactive too; a client who never logged in counts from signup.
_AWAY_JOIN = "LEFT JOIN logins l ON l.id = c.owner_login_id"
_AWAY = "coalesce(l.last_login_at, c.created_at) < ($1::date - interval '3 months')"


def _status_sql(away: bool) -> str:
    return f"""
WITH holders AS ({_HOLDERS}),
wanted AS (
    SELECT c.id, CASE WHEN h.client_id IS NOT NULL {f"AND NOT {_AWAY}" if away else ""}
                      THEN 'ACTIVE' ELSE 'INACTIVE' END AS status
      FROM clients c LEFT JOIN holders h ON h.client_id = c.id {_AWAY_JOIN if away else ""}
     WHERE c.status IN ('ACTIVE', 'INACTIVE')
),
changed AS (
    -- The status is checked again on the row written: one closed meanwhile stays CLOSED.
    UPDATE clients c SET status = w.status, updated_at = now()
      FROM wanted w
     WHERE c.id = w.id AND c.status IN ('ACTIVE', 'INACTIVE') AND c.status <> w.status
    RETURNING c.status
)
SELECT count(*) FILTER (WHERE status = 'INACTIVE') AS deactivated,
       count(*) FILTER (WHERE status = 'ACTIVE') AS activated
  FROM changed"""


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
    row = await conn.fetchrow(_status_sql(away), *([as_of] if away else []))
    return StatusChanges(deactivated=row["deactivated"], activated=row["activated"])
