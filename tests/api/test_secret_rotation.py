"""The installation's shared secrets rotate without downtime: CC_ENCRYPTION_HASH,
INBOUND_EMAIL_SECRET and METRICS_TOKEN each take a comma-separated list, the first current and
the others still accepted. Each is rotated as README "Rotating secrets" says: the old value
alone, then the new one first with the old still listed, then the new one alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import httpx

from app.settings import Settings
from tests.api.inbound import post_email
from tests.api.test_card_secret_backoff import reveal
from tests.api.test_cards import NUMBER, save_card
from tests.api.test_clients import JOE, added_client
from tests.api.test_serving import serve

# Each step of a rotation: the setting's value, and which secrets it accepts. Blanks around a
# comma are not part of a secret.
ROTATION = [("old", {"old"}), ("new, old", {"new", "old"}), ("new", {"new"})]
EXPECTED = [secrets for _, secrets in ROTATION]

Attempt = Callable[[httpx.AsyncClient, str], Awaitable[bool]]


async def accepted_during_rotation(
    settings: Settings, setting: str, accepts: Attempt
) -> list[set[str]]:
    """For each step of ROTATION, which of the old and new secrets the app accepts."""
    accepted = []
    for value, _ in ROTATION:
        async with serve(settings.model_copy(update={setting: value})) as api:
            accepted.append({secret for secret in ("old", "new") if await accepts(api, secret)})
    return accepted


async def test_4_3_the_card_secret_rotates(
    api: httpx.AsyncClient, settings: Settings, admin_token: str
) -> None:
    client = await added_client(api, admin_token)
    assert (await save_card(api, admin_token, client["id"]))["errors"] == []

    async def reveals(served: httpx.AsyncClient, secret: str) -> bool:
        return (await reveal(served, admin_token, client["id"], secret))["number"] == NUMBER

    assert await accepted_during_rotation(settings, "cc_encryption_hash", reveals) == EXPECTED


async def test_2_3_the_inbound_email_secret_rotates(
    api: httpx.AsyncClient, settings: Settings, admin_token: str
) -> None:
    await added_client(api, admin_token)

    async def takes(served: httpx.AsyncClient, secret: str) -> bool:
        posted = await post_email(served, JOE["email"], "Help", "Please.", secret=secret)
        assert posted.status_code in (200, 201, 401), posted.text
        return posted.status_code != 401

    assert await accepted_during_rotation(settings, "inbound_email_secret", takes) == EXPECTED


async def test_the_metrics_token_rotates(settings: Settings, pool: asyncpg.Pool) -> None:
    async def scrapes(served: httpx.AsyncClient, token: str) -> bool:
        scraped = await served.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert scraped.status_code in (200, 401)
        return scraped.status_code == 200

    assert await accepted_during_rotation(settings, "metrics_token", scrapes) == EXPECTED
