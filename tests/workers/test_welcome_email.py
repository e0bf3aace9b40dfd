"""SPEC 8.1: the welcome email (Client Signup Email) of a client added without a password
carries a single-use link to choose one; a client added with a password is not told to choose
one (issue 23, defect 5). Through the API, the worker and a real SMTP server."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import httpx

from app.settings import Settings
from tests.api.test_password_resets import CONFIRM
from tests.conftest import Services, gql, login
from tests.workers.test_email import add_client_through_api

NEW_PASSWORD = "chosen-password-1"


def welcome_text(services: Services) -> str:
    [message] = services.mail.messages
    [text] = [
        part.get_payload(decode=True).decode()
        for part in message.walk()
        if part.get_content_type() == "text/plain"
    ]
    return text


async def test_8_1_a_client_added_without_a_password_is_welcomed_with_a_set_password_link(
    api: httpx.AsyncClient,
    admin_token: str,
    run_worker: Any,
    services: Services,
    settings: Settings,
    conn: asyncpg.Connection,
) -> None:
    await add_client_through_api(api, admin_token)
    await run_worker()

    text = welcome_text(services)
    [token] = re.findall(rf"{re.escape(settings.client_area_base_url)}/password-reset/(\S+)", text)
    chosen = await gql(api, CONFIRM, {"token": token, "password": NEW_PASSWORD})
    again = await gql(api, CONFIRM, {"token": token, "password": "another-password-1"})

    assert "reply to this email" not in text and "within 72 hours" in text
    assert chosen["data"]["confirmPasswordReset"] == {"ok": True, "errors": []}
    assert again["data"]["confirmPasswordReset"]["ok"] is False  # it works once
    assert await login(api, "joe@example.com", NEW_PASSWORD)
    # The email log keeps the email without its link.
    assert token not in await conn.fetchval("SELECT body FROM emails")


async def test_8_1_a_client_added_with_a_password_is_not_told_to_choose_one(
    api: httpx.AsyncClient, admin_token: str, run_worker: Any, services: Services
) -> None:
    await add_client_through_api(api, admin_token, password="own-password-1")
    await run_worker()

    text = welcome_text(services)

    assert "password" not in text.lower()
    assert await login(api, "joe@example.com", "own-password-1")
