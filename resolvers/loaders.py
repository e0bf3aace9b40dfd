"""DataLoaders, one set per request: each batches a nested field into one query per level."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from strawberry.dataloader import DataLoader

from domain.emails import outbox
from domain.emails.outbox import Email


class Loaders:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.sent_emails_by_client: DataLoader[int, list[Email]] = DataLoader(
            self._load_sent_emails_by_client
        )

    async def _load_sent_emails_by_client(self, client_ids: Sequence[int]) -> list[list[Email]]:
        async with self._pool.acquire() as conn:
            by_client = await outbox.sent_emails_by_client(conn, list(client_ids))
        return [by_client[cid] for cid in client_ids]
