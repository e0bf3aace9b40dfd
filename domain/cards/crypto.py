"""Card numbers, and other secrets kept at rest, encrypted with AES-256-GCM under versioned
keys.

Each secret gets a random 96-bit nonce, and what it belongs to is authenticated as associated
data (a card: its client's id; a TOTP secret: its login's id, `domain.auth.two_factor`): a
ciphertext copied to another row, or from a card column to a TOTP column, does not decrypt.
The newest key encrypts; older ones only decrypt, until `clientdesk rotate-card-key` has
re-encrypted every card and TOTP secret.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class CardKeyError(ValueError):
    """The card keys are missing, malformed, or do not open a stored card."""


@dataclass(frozen=True)
class SealedNumber:
    key_version: int
    nonce: bytes
    ciphertext: bytes


def _associated_data(client_id: int) -> bytes:
    return f"clientdesk card of client {client_id}".encode()


@dataclass(frozen=True)
class CardKeyring:
    """The installation's card keys by version; the highest version encrypts."""

    keys: dict[int, bytes]

    @classmethod
    def parse(cls, setting: str) -> CardKeyring:
        """Read `CARD_ENCRYPTION_KEYS`: comma-separated `version:key`, each key 32 bytes in
        URL-safe base64 (what `generate_key` prints)."""
        keys: dict[int, bytes] = {}
        for item in filter(None, (part.strip() for part in setting.split(","))):
            version, _, encoded = item.partition(":")
            try:
                key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
                number = int(version)
            except (ValueError, binascii.Error):
                raise CardKeyError("CARD_ENCRYPTION_KEYS items are version:base64-key.") from None
            if number < 1 or len(key) != 32 or number in keys:
                raise CardKeyError("Each card key has a distinct version ≥ 1 and is 32 bytes long.")
            keys[number] = key
        if not keys:
            raise CardKeyError("CARD_ENCRYPTION_KEYS is not set: cards cannot be stored.")
        return cls(keys)

    @property
    def current_version(self) -> int:
        return max(self.keys)

    def seal(self, number: str, client_id: int) -> SealedNumber:
        return self.seal_text(number, _associated_data(client_id))

    def open(self, sealed: SealedNumber, client_id: int) -> str:
        return self.open_text(sealed, _associated_data(client_id))

    def seal_text(self, plain: str, associated_data: bytes) -> SealedNumber:
        """Encrypt under the newest key, bound to `associated_data` (what the secret is of)."""
        nonce = os.urandom(12)
        version = self.current_version
        ciphertext = AESGCM(self.keys[version]).encrypt(nonce, plain.encode(), associated_data)
        return SealedNumber(version, nonce, ciphertext)

    def open_text(self, sealed: SealedNumber, associated_data: bytes) -> str:
        key = self.keys.get(sealed.key_version)
        if key is None:
            raise CardKeyError(f"Card key version {sealed.key_version} is not configured.")
        try:
            plain = AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, associated_data)
        except InvalidTag:
            raise CardKeyError("A stored secret does not decrypt for its owner.") from None
        return plain.decode()


def generate_key(version: int) -> str:
    """A new `version:key` item for CARD_ENCRYPTION_KEYS."""
    return f"{version}:{base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip('=')}"
