"""What an inbound email says of itself (SPEC 2.3), read strictly: who it is from, whether
the mail relay authenticated that, and which ticket's reference its subject carries.

The From is what an attacker writes, so anything but exactly one well-formed address is
refused rather than read the way a lenient parser would ("<victim>, Evil <x@evil>" is not
the victim's). Only DMARC ties a message to its From domain (SPF checks the envelope
sender's, DKIM the signer's), so only the relay's DMARC pass authenticates the sender.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.headerregistry import AddressHeader, HeaderRegistry
from enum import StrEnum
from typing import cast

from domain.errors import ErrorCode
from domain.validation import InputCheck, storable_text

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
