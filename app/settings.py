"""Configuration, read from the environment (and a git-ignored `.env` that `make dev` writes)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    inbound_email_secret: str = ""
    attachments_dir: Path = Path("var/attachments")
    email_templates_dir: Path | None = None
    mail_from: str = "Clientdesk <billing@localhost>"
    smtp_timeout_seconds: float = Field(default=30, gt=0)

    # Email retries: a failed email is tried again after base, 2×base, 4×base, … (at most cap)
    # seconds, and after the last allowed attempt it is FAILED until staff requeue it.
    email_max_attempts: int = Field(default=8, ge=1)
    email_retry_base_seconds: float = Field(default=30, gt=0)
    email_retry_cap_seconds: float = Field(default=3600, gt=0)
    # The relay runs this often (seconds, 1–60) and hands over emails due for an attempt,
    # including new ones still unsent this long after they were committed.
    email_relay_interval_seconds: int = Field(default=60, ge=1, le=60)
    # The longest a worker job may run. A job left behind by a killed worker is run again
    # this long plus 10 s later (arq's in-progress mark expires); it must exceed the SMTP timeout.
    worker_job_timeout_seconds: int = Field(default=120, ge=1)

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
