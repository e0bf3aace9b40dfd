"""Inbound email (SPEC 2.3, 15.2): what an email says of itself, read strictly (who it is
from, whether the mail relay authenticated that, which ticket's reference its subject
carries), and the ticket it opens or joins.

The From is what an attacker writes, so anything but exactly one well-formed address is
refused rather than read the way a lenient parser would ("<victim>, Evil <x@evil>" is not
the victim's). Only DMARC ties a message to its From domain (SPF checks the envelope
sender's, DKIM the signer's), so only the relay's DMARC pass authenticates the sender.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import AddressHeader, HeaderRegistry
from enum import StrEnum
from typing import cast

import asyncpg

from domain.errors import DomainError, ErrorCode
from domain.tickets.models import Ticket
from domain.tickets.services import (
    Writer,
    check_message,
    check_subject,
    client_wrote,
    open_ticket,
)
from domain.validation import InputCheck, normalize_email, storable_text

# The longest line RFC 5322 allows; nothing longer is parsed.
MAX_FROM = 998
_REFERENCE = re.compile(r"\[Ticket #(\d{1,18})-([0-9a-f]{16})\]", re.IGNORECASE)
_HEADERS = HeaderRegistry()
_NOT_ONE_ADDRESS = "The sender must be exactly one well-formed address."


class SenderAuthentication(StrEnum):
    """What the relay's verdicts say of the From address."""

    PASSED = "PASSED"  # DMARC pass: the From domain vouches for the message
    FAILED = "FAILED"  # the From domain's own checks say it did not send it
    UNVERIFIED = "UNVERIFIED"  # no verdict either way


def sender_address(check: InputCheck, value: str | None) -> str:
    """The one address an inbound email's From names, in the form addresses are stored in
    (see `InputCheck.email`). Group syntax, several addresses, a header the parser had to
    repair (a stray ">", a missing bracket, a line break), an encoded word standing in for
    an address and a quoted local part are all refused (INVALID); a display name is only
    a name, whatever it holds."""
    raw = (value or "").strip()
    if not raw:
        check.fail("from", ErrorCode.REQUIRED, "The sender's address is required.")
        return raw
    address = _only_address(raw)
    if address is None:
        check.fail("from", ErrorCode.INVALID, _NOT_ONE_ADDRESS)
        return raw
    return check.email("from", address)


def _only_address(raw: str) -> str | None:
    """The addr-spec of a From that names exactly one address and parses without repair;
    None for anything else."""
    if len(raw) > MAX_FROM or not storable_text(raw):
        return None
    try:
        header = _HEADERS("from", raw)
    except Exception:
        # The stdlib parser repairs what it can and records defects, but some headers make
        # it raise instead, and not one kind of error: AttributeError (".:"), IndexError
        # ('"'), TypeError (" .,"), UnboundLocalError ("a<@[ "), RecursionError (nested
        # comments). Malformed as well.
        return None
    # The registry makes a From header an AddressHeader too (typeshed knows only the base).
    groups = cast(AddressHeader, header).groups
    if (
        header.defects
        or len(groups) != 1
        or groups[0].display_name is not None
        or len(groups[0].addresses) != 1
    ):
        return None
    return groups[0].addresses[0].addr_spec


def authentication_of(verdicts: Mapping[str, str] | None) -> SenderAuthentication:
    """The relay's results (RFC 8601 values: pass, fail, softfail, none, …) as one verdict.
    DMARC decides when it passed or failed. Without that, SPF and DKIM cannot vouch for the
    From (they are about other domains), but when neither passed and one failed, the
    message fails the very checks DMARC would have combined: FAILED."""
    results = {
        method.lower(): result.strip().lower() for method, result in (verdicts or {}).items()
    }
    dmarc = results.get("dmarc")
    if dmarc == "pass":
        return SenderAuthentication.PASSED
    if dmarc == "fail":
        return SenderAuthentication.FAILED
    others = {results.get("spf"), results.get("dkim")}
    if "fail" in others and "pass" not in others:
        return SenderAuthentication.FAILED
    return SenderAuthentication.UNVERIFIED


def unverified_sender(
    check: InputCheck, verdicts: Mapping[str, str] | None, *, required: bool
) -> bool:
    """Whether an email is taken flagged (no DMARC pass). One that FAILED is refused
    (FORBIDDEN on `authentication`); so is, when `required`, one without a DMARC pass
    (REQUIRED when the relay sent no verdict at all)."""
    verdict = authentication_of(verdicts)
    if verdict is SenderAuthentication.FAILED:
        check.fail(
            "authentication",
            ErrorCode.FORBIDDEN,
            "The mail relay found the sender's address forged (DMARC, or SPF and DKIM, failed).",
        )
    elif verdict is SenderAuthentication.UNVERIFIED and required:
        if verdicts is None:
            check.fail(
                "authentication", ErrorCode.REQUIRED, "The mail relay's verdict is required."
            )
        else:
            check.fail(
                "authentication", ErrorCode.FORBIDDEN, "Only email with a DMARC pass is taken."
            )
    return verdict is SenderAuthentication.UNVERIFIED


def reference_in(subject: str) -> tuple[int, str] | None:
    """The ticket number and reply token of the first ticket reference in a subject."""
    found = _REFERENCE.search(subject)
    if found is None:
        return None
    return int(found.group(1)), found.group(2).lower()


@dataclass(frozen=True)
class Received:
    """What an inbound email did: opened `ticket`, or (`opened` false) added to it."""

    ticket: Ticket
    opened: bool


async def sender_of(conn: asyncpg.Connection, address: str) -> Writer:
    """Who wrote from `address` (one address, as `sender_address` reads a From): the client
    with that address, else the one contact with it (of two of one client, one that ticks
    SUPPORT first).

    An address no client or contact has is refused (NOT_FOUND), and so is one that contacts
    of several clients share (CONFLICT): an email never makes a client, nor guesses one."""
    email = normalize_email(address)
    client = await conn.fetchrow(
        "SELECT id, first_name || ' ' || last_name AS name, email::text AS email "
        "FROM clients WHERE email = $1",
        email,
    )
    if client is not None:
        return Writer(client["id"], None, client["name"], client["email"])
    contacts = await conn.fetch(
        """SELECT DISTINCT ON (client_id) id, client_id, first_name || ' ' || last_name AS name,
                  email::text AS email, 'SUPPORT' = ANY(email_preferences) AS support
             FROM contacts WHERE email = $1
            ORDER BY client_id, 'SUPPORT' = ANY(email_preferences) DESC, id""",
        email,
    )
    if not contacts:
        raise DomainError.single(
            ErrorCode.NOT_FOUND, "No client or contact has the sender's address.", "from"
        )
    if len(contacts) > 1:
        raise DomainError.single(
            ErrorCode.CONFLICT, "Contacts of several clients have the sender's address.", "from"
        )
    [contact] = contacts
    return Writer(
        contact["client_id"], contact["id"], contact["name"], contact["email"], contact["support"]
    )


async def _ticket_answered(conn: asyncpg.Connection, writer: Writer, subject: str) -> int | None:
    """The ticket an emailed answer joins, locked: the one whose reference the subject
    carries, number and reply token alike, provided the writer may write in it (the account
    holder in any of its client's tickets, a contact in those it opened). None when the
    subject carries no reference; a reference that joins nothing (a wrong token, another
    client's or another contact's ticket) is refused, the same way for each, so that the
    refusal tells nothing of other tickets."""
    reference = reference_in(subject)
    if reference is None:
        return None
    ticket_id, token = reference
    row = await conn.fetchrow(
        """SELECT reply_token FROM tickets
            WHERE id = $1 AND client_id = $2 AND ($3::bigint IS NULL OR contact_id = $3)
              FOR UPDATE""",
        ticket_id,
        writer.client_id,
        writer.contact_id,
    )
    if row is None or not hmac.compare_digest(row["reply_token"], token):
        raise DomainError.single(
            ErrorCode.FORBIDDEN,
            "The ticket the subject refers to takes no answer from the sender.",
            "subject",
        )
    return ticket_id


async def receive_email(
    conn: asyncpg.Connection,
    sender: str | None,
    subject: str | None,
    text: str | None,
    *,
    authentication: Mapping[str, str] | None,
    require_authentication: bool,
    client_area_url: str,
) -> Received:
    """An inbound email: added to the ticket its subject refers to (`_ticket_answered`; a
    CLOSED one reopens), else a new ticket, which only the account holder and contacts who
    tick SUPPORT open this way (SPEC 15.2; FORBIDDEN on `from` for other contacts).
    `authentication` is the mail relay's verdicts by method ("spf", "dkim", "dmarc"), None
    when it sent none: a forged sender is refused, an unverified one flagged, or refused too
    with `require_authentication` (`unverified_sender`)."""
    check = InputCheck()
    subject = check_subject(check, "subject", subject)
    text = check_message(check, "text", text)
    address = sender_address(check, sender)
    unverified = unverified_sender(check, authentication, required=require_authentication)
    check.raise_if_failed()
    writer = await sender_of(conn, address)
    async with conn.transaction():
        ticket_id = await _ticket_answered(conn, writer, subject)
        if ticket_id is not None:
            ticket = await client_wrote(conn, ticket_id, writer, text, unverified_sender=unverified)
            return Received(ticket, opened=False)
        if not writer.opens_by_email:
            raise DomainError.single(
                ErrorCode.FORBIDDEN,
                "Only the account holder and contacts who tick SUPPORT open tickets by email.",
                "from",
            )
        ticket = await open_ticket(
            conn,
            writer,
            subject,
            text,
            client_area_url=client_area_url,
            unverified_sender=unverified,
        )
        return Received(ticket, opened=True)
