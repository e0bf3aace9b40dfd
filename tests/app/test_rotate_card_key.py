"""`clientdesk rotate-card-key`: a new key, then every card re-encrypted under it."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import pytest
from typer.testing import CliRunner

from app import db
from app.cli import cli
from app.settings import Settings
from domain.cards import services
from domain.cards.crypto import CardKeyring, SealedNumber
from tests.conftest import CARD_KEY


async def _client_with_card(database_url: str) -> int:
    conn = await db.connect(database_url)
    try:
        login_id = await conn.fetchval(
            "INSERT INTO logins (email) VALUES ('joe@example.com') RETURNING id"
        )
        client_id: int = await conn.fetchval(
            """INSERT INTO clients (owner_login_id, first_name, last_name, email, currency)
               VALUES ($1, 'Joe', 'Bloggs', 'joe@example.com', 'USD') RETURNING id""",
            login_id,
        )
        await services.save_card(
            conn,
            CardKeyring.parse(CARD_KEY),
            client_id,
            number="4111111111111111",
            expiry="12/30",
            staff_id=None,
            today=date(2026, 1, 1),
        )
        return client_id
    finally:
        await conn.close()


async def _stored(database_url: str, client_id: int) -> SealedNumber:
    conn = await db.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT key_version, nonce, ciphertext FROM cards WHERE client_id = $1", client_id
        )
        return SealedNumber(*row)
    finally:
        await conn.close()


def test_rotate_card_key_generates_a_key_then_re_encrypts_every_card(
    settings: Settings, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CARD_ENCRYPTION_KEYS", CARD_KEY)
    client_id = asyncio.run(_client_with_card(settings.database_url))
    runner = CliRunner()

    generated = runner.invoke(cli, ["rotate-card-key", "--generate"])
    assert generated.exit_code == 0, generated.output
    new_key = generated.output.strip()
    assert new_key.startswith("2:")
    assert asyncio.run(_stored(settings.database_url, client_id)).key_version == 1

    monkeypatch.setenv("CARD_ENCRYPTION_KEYS", f"{new_key},{CARD_KEY}")
    rotated = runner.invoke(cli, ["rotate-card-key"])
    assert rotated.exit_code == 0, rotated.output
    assert "1 card(s) re-encrypted under key version 2" in rotated.output

    sealed = asyncio.run(_stored(settings.database_url, client_id))
    only_new = CardKeyring.parse(new_key)
    assert only_new.open(sealed, client_id) == "4111111111111111"


def test_rotate_card_key_refuses_without_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARD_ENCRYPTION_KEYS", "")
    result = CliRunner().invoke(cli, ["rotate-card-key"])
    assert result.exit_code == 2
    assert "CARD_ENCRYPTION_KEYS is not set" in result.output
