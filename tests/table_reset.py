"""Emptying the tables tests fill, between tests, as `TRUNCATE … RESTART IDENTITY CASCADE`
would, at a fraction of its cost.

A TRUNCATE of the forty-odd tables gives each table, index and TOAST table a new file and
invalidates every connection's cache of them: about 0.25 s on an empty database, paid by
each of the suite's 3,000 tests. Rows that a test leaves are few, and deleting them (foreign
key checks and triggers off, `session_replication_role = replica`) takes about a
millisecond. The reset then does by hand what TRUNCATE's triggers do (`TRUNCATE_EFFECTS`)
and restarts the tables' sequences as RESTART IDENTITY does. Once any table has grown past
`TRUNCATE_ABOVE_BYTES` (a test that added thousands of rows, or the dead rows of many
deletes), the reset truncates instead, so that no test finds a table bloated by others.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

# The tables that `tables` reach through foreign keys, as TRUNCATE … CASCADE reaches them.
CASCADE = """
WITH RECURSIVE reached(oid) AS (
    SELECT c.oid FROM pg_class c WHERE c.oid = ANY($1::regclass[])
    UNION
    SELECT con.conrelid FROM pg_constraint con JOIN reached r ON con.confrelid = r.oid
     WHERE con.contype = 'f'
)
SELECT oid::regclass::text AS name FROM reached ORDER BY 1"""

# The sequences owned by those tables' columns (serial and identity), with their start.
SEQUENCES = """
SELECT s.seqrelid::regclass::text AS name, s.seqstart AS start
  FROM pg_sequence s JOIN pg_depend d ON d.objid = s.seqrelid AND d.deptype IN ('a', 'i')
 WHERE d.refobjid = ANY($1::regclass[])
 ORDER BY 1"""

TRUNCATE_TRIGGERS = """
SELECT t.tgname FROM pg_trigger t
 WHERE t.tgrelid = ANY($1::regclass[]) AND NOT t.tgisinternal AND t.tgtype & 32 <> 0
 ORDER BY 1"""

# What the migrations' ON TRUNCATE triggers do once every table is empty: the dashboard's
# counters go (0030, 0036) and the processes are told that the settings changed (0019).
TRUNCATE_EFFECTS = {
    "dashboard_clients_truncated": "DELETE FROM dashboard_counts WHERE figure LIKE 'clients.%'",
    "dashboard_emails_truncated": "DELETE FROM dashboard_counts WHERE figure LIKE 'emails.%'",
    "dashboard_tickets_truncated": "DELETE FROM dashboard_counts WHERE figure LIKE 'tickets.%'",
    "dashboard_invoices_truncated": "DELETE FROM dashboard_unpaid",
    "dashboard_transactions_truncated": "DELETE FROM dashboard_income",
    # The income rebuilt from no transactions: none.
    "dashboard_zone_truncated": "DELETE FROM dashboard_income",
    "settings_changed": "SELECT pg_notify('clientdesk_reference', 'settings')",
}

TRUNCATE_ABOVE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class TableReset:
    tables: list[str]
    delete_sql: str
    truncate_sql: str

    @classmethod
    async def build(cls, conn: asyncpg.Connection, tables: str) -> TableReset:
        """The reset of `tables` (comma-separated) and of every table that refers to them."""
        named = [name.strip() for name in tables.split(",")]
        reached = [r["name"] for r in await conn.fetch(CASCADE, named)]
        triggers = [r["tgname"] for r in await conn.fetch(TRUNCATE_TRIGGERS, reached)]
        unknown = sorted(set(triggers) - set(TRUNCATE_EFFECTS))
        assert not unknown, (
            f"ON TRUNCATE triggers {unknown}: tests/table_reset.py must do what they do"
        )
        sequences = await conn.fetch(SEQUENCES, reached)
        statements = [
            "BEGIN",
            "SET LOCAL session_replication_role = replica",
            *(f"DELETE FROM {name}" for name in reached),
            *(TRUNCATE_EFFECTS[name] for name in triggers),
            *(f"SELECT setval('{s['name']}', {s['start']}, false)" for s in sequences),
            "COMMIT",
        ]
        return cls(
            tables=reached,
            delete_sql=";\n".join(statements),
            truncate_sql=f"TRUNCATE {tables} RESTART IDENTITY CASCADE",
        )

    async def run(self, conn: asyncpg.Connection | asyncpg.Pool) -> None:
        grown = await conn.fetchval(
            "SELECT bool_or(pg_total_relation_size(t) > $2) FROM unnest($1::regclass[]) AS t",
            self.tables,
            TRUNCATE_ABOVE_BYTES,
        )
        await conn.execute(self.truncate_sql if grown else self.delete_sql)
