"""Deleting a client and everything of it (SPEC 7.2).

Transactions stay as income records: before the client goes, each is stamped with the
client's name and company as they were, and keeps the client's id. Audit entries stay too.
Everything else listed in `CLIENT_TABLES` is removed, with the card, the owner's and the
contacts' logins (and so their sessions), in one transaction.
"""

from __future__ import annotations

import asyncpg

from domain import audit
from domain.clients.related import CLIENT_TABLES
from domain.errors import NotFound
from domain.tickets import attachments as message_files


async def delete_client(
    conn: asyncpg.Connection, client_id: int, *, staff_id: int | None
) -> list[str]:
    """Remove the client and all it owns but its transactions and audit entries; return the
    stored names of its files and of its tickets' attachments, whose bytes the caller removes
    once this has committed."""
    async with conn.transaction():
        # The same row lock as credit changes and merges: they queue behind the deletion and
        # then find no client.
        client = await conn.fetchrow(
            """SELECT id, owner_login_id, first_name || ' ' || last_name AS name, company_name,
                      email::text
                 FROM clients WHERE id = $1 FOR UPDATE""",
            client_id,
        )
        if client is None:
            raise NotFound("Client")
        await conn.execute(
            """UPDATE transactions SET client_name = $2, client_company_name = $3
                WHERE client_id = $1""",
            client_id,
            client["name"],
            client["company_name"],
        )
        logins = [client["owner_login_id"]] + [
            row["login_id"]
            for row in await conn.fetch(
                "SELECT login_id FROM contacts WHERE client_id = $1 AND login_id IS NOT NULL",
                client_id,
            )
        ]
        stored_files = [
            row["stored_name"]
            for row in await conn.fetch(
                "SELECT stored_name FROM client_files WHERE client_id = $1", client_id
            )
        ] + await message_files.stored_names_of_client(conn, client_id)
        removed = {}
        for related in CLIENT_TABLES:
            if related.kept_on_delete:
                continue
            status = await conn.execute(
                f"DELETE FROM {related.table} WHERE {related.column} = $1", client_id
            )
            removed[related.table] = int(status.split()[-1])
        await conn.execute("DELETE FROM cards WHERE client_id = $1", client_id)
        await conn.execute("DELETE FROM clients WHERE id = $1", client_id)
        # Sessions and idempotency keys of these logins go by cascade.
        await conn.execute("DELETE FROM logins WHERE id = ANY($1::bigint[])", logins)
        await audit.record(
            conn,
            staff_id=staff_id,
            action="client.deleted",
            client_id=client_id,
            changes={
                "name": client["name"],
                "companyName": client["company_name"],
                "email": client["email"],
                "removed": {table: count for table, count in removed.items() if count},
            },
        )
    return stored_files
