"""SPEC 2.3: inbound email whose sender may be forged (issue 17, defect 9). A From that is
not exactly one well-formed address is refused, an email the mail relay found forged is
refused, one it did not authenticate is taken flagged, and an answer joins a ticket only
with the reply token of its reference, never with the ticket's number alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg
import httpx
import pytest

from app.settings import Settings
from tests.api.inbound import AUTHENTICATED, inbound_client, post_email
from tests.api.test_tickets import CLIENT_TICKETS, HOLDER, Desk, stored
from tests.conftest import gid, gql, pk

EVIL = "x@evil.example"


async def messages_of(api: httpx.AsyncClient, desk: Desk, ticket_id: str) -> list[dict[str, Any]]:
    body = await gql(
        api, CLIENT_TICKETS, {"id": gid("Client", desk.client_id)}, token=desk.staff_token
    )
    [ticket] = [t for t in body["data"]["client"]["tickets"] if t["id"] == ticket_id]
    return ticket["messages"]  # type: ignore[no-any-return]


def codes(response: httpx.Response) -> list[tuple[str, str]]:
    return [(e["field"], e["code"]) for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("sender", "code"),
    [
        # The two forms of the report, each read by parseaddr as the victim's address.
        pytest.param(f"<{HOLDER}>, Evil <{EVIL}>", "INVALID", id="victim-then-attacker"),
        pytest.param(f"<{HOLDER}>>junk", "INVALID", id="trailing-junk"),
        pytest.param(f"<{HOLDER}> <{EVIL}>", "INVALID", id="two-angle-addresses"),
        pytest.param(f"{HOLDER} <{EVIL}>", "INVALID", id="bare-then-angle"),
        pytest.param(f"{HOLDER}, {EVIL}", "INVALID", id="two-bare-addresses"),
        pytest.param(f"{HOLDER}; {EVIL}", "INVALID", id="semicolon-list"),
        pytest.param(f"Friends: {HOLDER};", "INVALID", id="group"),
        pytest.param("Undisclosed recipients:;", "INVALID", id="empty-group"),
        pytest.param("=?utf-8?q?joe=40example.com?=", "INVALID", id="encoded-word-address"),
        pytest.param(
            f"=?utf-8?q?Joe_<{HOLDER}>,_{EVIL}?=", "INVALID", id="encoded-word-address-list"
        ),
        pytest.param(f"{HOLDER}\r\nBcc: {EVIL}", "INVALID", id="header-injection"),
        pytest.param(f"Joe <{HOLDER}", "INVALID", id="unclosed-bracket"),
        pytest.param(f'"{HOLDER}"@evil.example', "INVALID", id="quoted-local-part"),
        pytest.param("joe@[127.0.0.1]", "INVALID", id="domain-literal"),
        pytest.param("<>", "INVALID", id="null-sender"),
        pytest.param("Joe " * 250 + f"<{HOLDER}>", "INVALID", id="longer-than-a-header-line"),
        pytest.param("", "REQUIRED", id="empty"),
        pytest.param("   ", "REQUIRED", id="blank"),
    ],
)
async def test_2_3_inbound_email_from_anything_but_one_well_formed_address_is_refused(
    inbound_api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk, sender: str, code: str
) -> None:
    """Refused even with the holder's own ticket reference and a DMARC pass: the relay
    vouched for some address of that From, not necessarily the holder's."""
    opened = await post_email(inbound_api, HOLDER, "Help", "Hi", authentication=AUTHENTICATED)
    before = await stored(conn)

    for subject in ("A new question", f"Re: {opened.json()['reference']} Help"):
        refused = await post_email(
            inbound_api, sender, subject, "Forged", authentication=AUTHENTICATED
        )
        assert refused.status_code == 422, refused.text
        assert codes(refused) == [("from", code)]
    assert await stored(conn) == before


@pytest.mark.parametrize(
    "sender", [f'"{HOLDER}" <{EVIL}>', f"=?utf-8?q?{HOLDER}?= <{EVIL}>"], ids=["quoted", "encoded"]
)
async def test_2_3_a_display_name_that_reads_like_an_address_is_only_a_name(
    inbound_api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk, sender: str
) -> None:
    before = await stored(conn)

    refused = await post_email(inbound_api, sender, "Help", "Hi", authentication=AUTHENTICATED)

    assert refused.status_code == 422
    assert codes(refused) == [("from", "NOT_FOUND")]
    assert await stored(conn) == before


async def test_2_3_a_subject_with_only_the_ticket_number_joins_no_ticket(
    inbound_api: httpx.AsyncClient, conn: asyncpg.Connection, desk: Desk
) -> None:
    """The report's third attack: a forged From with "[Ticket #N]" wrote into ticket N.
    Now it opens a ticket of its own, flagged as the relay did not authenticate it."""
    opened = await post_email(inbound_api, HOLDER, "Help", "Hi", authentication=AUTHENTICATED)
    ticket_id = opened.json()["ticket"]

    forged = await post_email(
        inbound_api, HOLDER, f"Re: [Ticket #{pk(ticket_id, 'Ticket')}] Help", "Send it to me"
    )

    assert forged.status_code == 201, forged.text
    assert forged.json()["ticket"] != ticket_id
    assert [m["body"] for m in await messages_of(inbound_api, desk, ticket_id)] == ["Hi"]
    [message] = await messages_of(inbound_api, desk, forged.json()["ticket"])
    assert message["unverifiedSender"] is True


@pytest.mark.parametrize(
    "verdicts",
    [
        {"dmarc": "fail"},
        {"dmarc": "FAIL", "spf": "pass", "dkim": "pass"},
        {"spf": "fail"},
        {"spf": "fail", "dkim": "fail"},
        {"spf": "softfail", "dkim": "fail", "dmarc": "none"},
    ],
    ids=["dmarc", "dmarc-over-spf-and-dkim", "spf-alone", "spf-and-dkim", "dkim-without-dmarc"],
)
async def test_2_3_inbound_email_the_relay_found_forged_is_refused_and_stores_nothing(
    inbound_api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    desk: Desk,
    verdicts: Mapping[str, str],
) -> None:
    """Whether it would open a ticket or answer one with the right reference."""
    opened = await post_email(inbound_api, HOLDER, "Help", "Hi", authentication=AUTHENTICATED)
    before = await stored(conn)

    for subject in ("A new question", f"Re: {opened.json()['reference']} Help"):
        refused = await post_email(inbound_api, HOLDER, subject, "Forged", authentication=verdicts)
        assert refused.status_code == 422, refused.text
        assert codes(refused) == [("authentication", "FORBIDDEN")]
    assert await stored(conn) == before


@pytest.mark.parametrize(
    ("verdicts", "flagged"),
    [
        (None, True),
        ({}, True),
        ({"spf": "pass", "dkim": "pass"}, True),
        ({"dmarc": "none", "spf": "pass"}, True),
        ({"dmarc": "temperror"}, True),
        ({"spf": "fail", "dkim": "pass"}, True),
        ({"dmarc": "pass"}, False),
        ({"dmarc": "Pass", "spf": "fail"}, False),
    ],
    ids=[
        "no-verdict",
        "no-method",
        "spf-and-dkim-only",
        "no-dmarc-policy",
        "dmarc-temperror",
        "dkim-only-passes",
        "dmarc-pass",
        "dmarc-pass-spf-fail",
    ],
)
async def test_2_3_inbound_email_without_a_dmarc_pass_is_taken_flagged(
    inbound_api: httpx.AsyncClient,
    desk: Desk,
    verdicts: Mapping[str, str] | None,
    flagged: bool,
) -> None:
    opened = await post_email(inbound_api, HOLDER, "Help", "Hi", authentication=verdicts)
    assert opened.status_code == 201, opened.text
    reference = opened.json()["reference"]
    answer = await post_email(
        inbound_api, HOLDER, f"Re: {reference} Help", "More", authentication=verdicts
    )
    assert answer.status_code == 200, answer.text

    messages = await messages_of(inbound_api, desk, opened.json()["ticket"])

    assert [(m["body"], m["unverifiedSender"]) for m in messages] == [
        ("Hi", flagged),
        ("More", flagged),
    ]


async def test_2_3_inbound_email_needs_a_dmarc_pass_when_the_setting_requires_it(
    settings: Settings, pool: asyncpg.Pool, conn: asyncpg.Connection, desk: Desk
) -> None:
    async with inbound_client(settings, inbound_email_require_authentication=True) as strict:
        missing = await post_email(strict, HOLDER, "Help", "Hi")
        weak = await post_email(
            strict, HOLDER, "Help", "Hi", authentication={"spf": "pass", "dkim": "pass"}
        )
        assert await stored(conn) == (0, 0, 1, 1)
        passed = await post_email(strict, HOLDER, "Help", "Hi", authentication={"dmarc": "pass"})

    assert codes(missing) == [("authentication", "REQUIRED")]
    assert codes(weak) == [("authentication", "FORBIDDEN")]
    assert (missing.status_code, weak.status_code, passed.status_code) == (422, 422, 201)
