"""Money that keeps its meaning: the client's payment method applied only when it changes
(SPEC 1.5), currency fixed while the client has money or history in it (1.6, 13.4), invoices
that keep their currency (13.4) and payments of paid invoices becoming credit (3.4, 13.3)."""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from domain.billing.models import ItemKind
from domain.clients import services
from tests.conftest import add_client
from tests.domain.test_billing import payment_methods, place

D = Decimal


# --- 1.5 payment method ------------------------------------------------------------------------


async def test_1_5_the_same_default_payment_method_again_keeps_per_item_choices(
    conn: asyncpg.Connection,
) -> None:
    client = await add_client(conn)
    await place(conn, client, (ItemKind.SERVICE, "Hosting", "10.00"), payment_method="mailin")
    await services.update_client(
        conn, client.id, {"default_payment_method": "banktransfer"}, staff_id=None
    )
    # Staff then choose another method for the one service and its invoice.
    await conn.execute("UPDATE services SET payment_method = 'mailin'")
    await conn.execute("UPDATE invoices SET payment_method = 'mailin'")

    # A form posting the whole profile sends the unchanged default along.
    await services.update_client(
        conn,
        client.id,
        {"default_payment_method": "banktransfer", "notes": "Prefers email"},
        staff_id=None,
    )

    assert await payment_methods(conn, client.id) == {
        "services": ["mailin"],
        "addons": [],
        "domains": [],
        "invoices": ["mailin"],
    }
    # The explicit client-wide change still sets it everywhere, changed or not.
    await services.set_client_payment_method(conn, client.id, "banktransfer", staff_id=None)
    assert (await payment_methods(conn, client.id))["services"] == ["banktransfer"]
