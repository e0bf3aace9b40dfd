"""The PostgreSQL pool: JSON columns decode to Python values, NUMERIC stays Decimal."""

from __future__ import annotations

import json

import asyncpg


def _encode_json(value: object) -> str:
    # Decimals and dates in audit changes and email contexts are stored as their text.
    return json.dumps(value, default=str)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=_encode_json, decoder=json.loads, schema="pg_catalog"
        )


def _server_settings(mail_domain: str | None) -> dict[str, str]:
    # The emails table's Message-ID default reads it (migrations/0009_message_id_mail_domain.sql).
    return {"clientdesk.mail_domain": mail_domain} if mail_domain else {}


async def create_pool(
    database_url: str, *, min_size: int = 2, max_size: int = 10, mail_domain: str | None = None
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings=_server_settings(mail_domain),
    )
    assert pool is not None
    return pool


async def connect(database_url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(database_url)
    await _init_connection(conn)
    return conn
