"""The writer of `bench.subscriptions`: changes committed through SQL at a steady rate,
each its own transaction, with the event each made and when its COMMIT returned."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import asyncpg

INVOICE_SQL = """UPDATE invoices SET payment_method =
  CASE WHEN payment_method IS NULL THEN 'banktransfer' END WHERE id = $1"""
# A sent email (the outbox's workers do not run here), so its event is the last it makes.
EMAIL_SQL = """INSERT INTO emails (client_id, template, category, to_address, to_name,
  message_id, subject, body, attempts, sent_at)
SELECT id, 'client_signup', 'GENERAL', email::text, first_name, $2, 'Bench event', 'Hello', 1,
       now() FROM clients WHERE id = $1"""
# The id the change's trigger gave its event, in the same session and transaction.
EVENT_SQL = "SELECT currval(pg_get_serial_sequence('events', 'id'))"


@dataclass
class Writer:
    """Commits at a steady rate: nine in ten a client's notes or an invoice's payment method
    (in turn), one in ten a sent email; per commit, the event it made, when the COMMIT
    returned and how many subscribers should receive it."""

    pool: asyncpg.Pool
    # The clients changed in turn, and an invoice of each.
    clients: list[int]
    invoices: list[int]
    # Subscribers per (subscription field, client id; None: every client).
    audience: Counter[tuple[str, int | None]]
    committed: dict[int, float] = field(default_factory=dict)
    expected: dict[int, int] = field(default_factory=dict)
    late: int = 0
    commits: int = 0

    async def run(self, rate: float, seconds: float) -> list[int]:
        """The event ids it made, committing `rate` a second for `seconds`."""
        made: list[int] = []
        started = time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        n = 0
        while (due := started + n / rate) < started + seconds:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            # A tick that started more than a period late: the writer could not keep up.
            self.late += time.monotonic() - due > 1 / rate
            task = asyncio.create_task(self._commit(self.commits, made))
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
            self.commits += 1
        await asyncio.gather(*pending)
        return made

    async def _commit(self, n: int, made: list[int]) -> None:
        client = self.clients[n % len(self.clients)]
        audience = self.audience[("clientEvents", client)]
        async with self.pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            if n % 10 == 9:
                await conn.execute(EMAIL_SQL, client, f"<bench-event-{n}@clientdesk>")
                audience = self.audience[("emailEvents", None)]
            elif n % 2 == 0:
                await conn.execute(
                    "UPDATE clients SET notes = $2 WHERE id = $1", client, f"change {n}"
                )
            else:
                await conn.execute(INVOICE_SQL, self.invoices[n % len(self.clients)])
                audience = self.audience[("invoiceEvents", client)]
            event_id = await conn.fetchval(EVENT_SQL)
            await transaction.commit()
        self.committed[event_id] = time.monotonic()
        self.expected[event_id] = audience
        made.append(event_id)
