"""Configuration, read from the environment (and a git-ignored `.env` that `make dev` writes)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.cards.crypto import CardKeyring


class Settings(BaseSettings):
    """Every setting of an installation. README.md lists them with their meaning."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Where the services are. Empty means "start the embedded ones" (only `clientdesk dev`).
    database_url: str = ""
    redis_url: str = ""
    smtp_url: str = ""
    mail_dir: Path = Path("var/mail")
    var_dir: Path = Path("var")

    host: str = "127.0.0.1"
    port: int = 8000
    # "development" turns on GraphiQL and introspection; "production" turns both off by default.
    environment: str = "development"
    graphiql: bool | None = None
    introspection: bool | None = None
    # The public base of links in emails (password resets, the client area); by default
    # the address the API listens on.
    public_url: str = ""

    # The installation's card secret ("CC encryption hash"): staff present it to reveal a card.
    cc_encryption_hash: str = ""
    # The keys stored card numbers are encrypted with: comma-separated `version:key`, the
    # highest version encrypting (`clientdesk rotate-card-key` adds one and re-encrypts).
    card_encryption_keys: str = ""
    inbound_email_secret: str = ""
    attachments_dir: Path = Path("var/attachments")
    email_templates_dir: Path | None = None
    mail_from: str = "Clientdesk <billing@localhost>"

    session_ttl_hours: int = Field(default=24 * 14, ge=1)
    login_max_failures: int = Field(default=10, ge=1)
    login_cooldown_seconds: int = Field(default=900, ge=1)

    max_query_depth: int = 12
    max_query_tokens: int = 4000
    max_query_aliases: int = 30

    db_pool_min: int = 2
    db_pool_max: int = 10

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def card_keyring(self) -> CardKeyring | None:
        """The card keys, or None when unset; malformed keys stop the start-up."""
        return CardKeyring.parse(self.card_encryption_keys) if self.card_encryption_keys else None

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else self.environment == "development"

    @property
    def introspection_enabled(self) -> bool:
        if self.introspection is not None:
            return self.introspection
        return self.environment == "development"


@lru_cache
def get_settings() -> Settings:
    return Settings()
