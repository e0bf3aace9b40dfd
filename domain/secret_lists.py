"""Secrets given to the installation as a list, so that they rotate without downtime.

A setting such as CC_ENCRYPTION_HASH holds comma-separated values: the first is current
(the one to hand to people and callers), the others are still accepted while those move over,
and a value removed from the list is refused from then on (README, "Rotating secrets").
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


def parse(value: str) -> tuple[str, ...]:
    """The secrets of a setting, current first; empty when the setting is unset."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def matches_any(presented: str, accepted: Sequence[str]) -> bool:
    """Whether `presented` is one of the accepted secrets, in constant time.

    Both sides are hashed first, so that a comparison takes the same time whatever their
    lengths, and every accepted secret is compared, so that the time does not tell which one
    matched. Nothing is accepted when no secret is set."""
    given = hashlib.sha256(presented.encode()).digest()
    matched = False
    for secret in accepted:
        matched |= hmac.compare_digest(given, hashlib.sha256(secret.encode()).digest())
    return matched
