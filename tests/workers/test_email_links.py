"""SPEC 8.1–8.2 as a client receives it: the welcome email, sent by a real worker over SMTP,
links to the configured client area's login page, has an HTML part beside the text, and
carries a Message-ID under the installation's mail domain."""

from __future__ import annotations

import re
from email.message import Message

import asyncpg
import httpx

from app.settings import Settings
from app.web import create_app
from app.worker import build_worker
from domain.affiliates import services as affiliates
from domain.billing import invoices, payments
from tests.conftest import Services, add_client, gql
from tests.domain.test_email_templates import leads_to_a_documented_page, links_of

ADD_CLIENT = """
mutation Add($input: AddClientInput!) {
  addClient(input: $input) { client { id } errors { field code message } }
}"""
CLIENT_AREA = "https://my.example.net/client"


def parts(message: Message) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }


async def test_8_1_the_welcome_email_links_only_to_client_area_pages_in_text_and_html(
    settings: Settings, pool: asyncpg.Pool, services: Services, make_staff
) -> None:
    configured = settings.model_copy(
        update={"client_area_url": CLIENT_AREA + "/", "mail_domain": "mail.example.net"}
    )
    app = create_app(configured)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            token = await make_staff()
            body = await gql(
                api,
                ADD_CLIENT,
                {"input": {"firstName": "Joe", "lastName": "Bloggs", "email": "joe@example.com"}},
                token=token,
            )
    assert body["data"]["addClient"]["errors"] == []
    worker = build_worker(configured, burst=True, handle_signals=False, poll_delay=0.05)
    try:
        await worker.main()
    finally:
        await worker.close()

    [message] = services.mail.messages
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)["text/plain"], parts(message)["text/html"]
    links = links_of(text) + links_of(html)
    # Added without a password: its link sets one (SPEC 8.1), in both parts.
    assert sum(url.startswith(f"{CLIENT_AREA}/password-reset/") for url in links) == 2
    assert all(leads_to_a_documented_page(url, CLIENT_AREA) for url in links)
    assert "forgot password" not in (text + html).lower()
    # The Message-ID names our mail domain and is the one kept on the row for resends.
    stored = await pool.fetchval("SELECT message_id FROM emails")
    assert message["Message-ID"] == stored
    assert re.fullmatch(r"<[0-9a-f]{32}@mail\.example\.net>", stored)


async def test_14_3_a_commission_email_links_to_the_affiliate_page_under_the_workers_address(
    settings: Settings, pool: asyncpg.Pool, services: Services
) -> None:
    """Queued where invoices become PAID, with no client-area address of its own."""
    template = "affiliate_commission_earned"
    configured = settings.model_copy(update={"client_area_url": CLIENT_AREA + "/"})
    async with pool.acquire() as conn:
        affiliate = await add_client(conn)
        referred = await add_client(conn, email="rae@example.com")
        account = await affiliates.activate_affiliate(conn, affiliate.id)
        await affiliates.record_referral(conn, referred.id, account.referral_code)
        invoice = await invoices.create_invoice(
            conn,
            referred.id,
            items=[{"description": "Hosting", "amount": "10.00"}],
            due_date=None,
            payment_method=None,
            staff_id=None,
        )
        await payments.record_payment(
            conn,
            invoice.id,
            amount="10.00",
            gateway="banktransfer",
            staff_id=None,
            client_area_url=CLIENT_AREA,
        )
        await conn.execute("UPDATE emails SET sent_at = now() WHERE template <> $1", template)
        # Never enqueued: the relay sends it once it has waited its interval.
        await conn.execute(
            "UPDATE emails SET created_at = now() - make_interval(secs => $1)",
            settings.email_relay_interval_seconds + 5,
        )
    worker = build_worker(configured, burst=True, handle_signals=False, poll_delay=0.05)
    try:
        await worker.main()
    finally:
        await worker.close()

    [message] = services.mail.messages
    assert "commission" in message["Subject"]
    text, html = parts(message)["text/plain"], parts(message)["text/html"]
    assert f"{CLIENT_AREA}/affiliate" in text and f'href="{CLIENT_AREA}/affiliate"' in html
