"""Configuration, read from the environment (and a git-ignored `.env` that `make dev` writes)."""

from __future__ import annotations

from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain import secret_lists
from domain.auth.throttle import STAFF_PASSWORD_HASH_BUDGET
from domain.billing.stripe_gateway import StripeConfig
from domain.cards.crypto import CardKeyring

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


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
    # "development" turns on GraphiQL and introspection; "production" turns both off by default
    # and never loads the test card gateway (SPEC 13.1).
    environment: str = "development"
    graphiql: bool | None = None
    introspection: bool | None = None
    # The public base of links in emails (password resets, the client area); by default
    # the address the API listens on.
    public_url: str = ""
    # Where the client area (the clients' front end) is served: every link in an email leads
    # to one of its pages (docs/client-area.md). By default the public URL.
    client_area_url: str = ""

    # The installation's card secret ("CC encryption hash"): staff present it to reveal a card.
    # This and INBOUND_EMAIL_SECRET and METRICS_TOKEN rotate: each is a comma-separated list,
    # the first current, the others still accepted (`domain.secret_lists`).
    cc_encryption_hash: str = ""
    # The keys stored card numbers are encrypted with: comma-separated `version:key`, the
    # highest version encrypting (`clientdesk rotate-card-key` adds one and re-encrypts).
    card_encryption_keys: str = ""
    inbound_email_secret: str = ""
    # Stripe (README "Stripe"): its secret API key loads the Stripe gateway, which staff can
    # then turn on; the signing secret of its webhook endpoint (POST /webhooks/stripe); and
    # the API's address, Stripe's own when empty (a localstripe server's for trials).
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = ""
    # Take inbound email only with the relay's DMARC pass; otherwise an email without one
    # is taken, flagged (docs: README "Support tickets").
    inbound_email_require_authentication: bool = False
    # Where client files' bytes are kept (README "File storage"): `postgres` (the default)
    # in the database, which every API host shares and one backup holds; `local` in
    # ATTACHMENTS_DIR, which only hosts that mount it see; `s3` in an S3-compatible bucket.
    # `clientdesk move-files` moves the bytes from one to another.
    file_storage: Literal["postgres", "local", "s3"] = "postgres"
    attachments_dir: Path = Path("var/attachments")
    # The bucket (and a key prefix such as `clientdesk/`) of FILE_STORAGE=s3. The endpoint is
    # AWS's when empty (for MinIO, Ceph, R2 and the like, their URL); the keys come from the
    # usual AWS chain (environment, profile, instance role) when empty.
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    email_templates_dir: Path | None = None
    mail_from: str = "Clientdesk <billing@localhost>"
    # The domain of the Message-IDs of our emails; by default the domain of MAIL_FROM.
    mail_domain: str = ""
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
    # Jobs one worker runs at once (each holds a database connection while it runs), how
    # often an idle worker looks for new jobs, and the SMTP connections it keeps open.
    worker_max_jobs: int = Field(default=20, ge=1)
    worker_poll_delay_seconds: float = Field(default=0.1, gt=0)
    smtp_connections: int = Field(default=8, ge=1)
    # The workers start the daily automation at its time of day (SPEC 9); off, only
    # `runAutomation` starts a run (the test suite, whose clients the run would change).
    automation_schedule: bool = True
    # How long `runAutomation` waits for the run before answering with what it has so far.
    automation_wait_seconds: float = Field(default=60, gt=0, le=600)
    # How long one HTTP request may run before it is stopped and answered 503; longer than
    # runAutomation's wait, which is the longest a request waits by design.
    request_time_budget_seconds: float = Field(default=90, gt=0)

    session_ttl_hours: int = Field(default=24 * 14, ge=1)
    login_max_failures: int = Field(default=10, ge=1)
    login_cooldown_seconds: int = Field(default=900, ge=1)
    # Password hashes (logins, password changes) per login per window; 5× per address.
    password_hash_budget: int = Field(default=30, ge=1)
    # The same for staff (and other trusted principals), per login only: bulk onboarding
    # hashes a password per client added.
    staff_password_hash_budget: int = Field(default=STAFF_PASSWORD_HASH_BUDGET, ge=1)
    password_hash_window_seconds: int = Field(default=300, ge=1)
    # Requests each API key may make per minute, across every API process (SPEC 11.3).
    api_key_rate_limit: int = Field(default=600, ge=1)

    max_query_depth: int = 12
    max_query_tokens: int = 4000
    max_query_aliases: int = 30
    # Fields an operation selects once its fragments are expanded (each spread as often as it
    # is spread): what running it can cost, however small its text (app/query_limits.py).
    max_query_fields: int = Field(default=2000, ge=10)
    # Objects an operation may return, its lists' sizes (`first`, or their caps) multiplied
    # through their nesting (app/query_limits.py `QueryCost`): no request asks for millions.
    max_query_cost: int = Field(default=50_000, ge=100)
    # Request bodies are refused (413) beyond these sizes, before they are read in full:
    # JSON (GraphQL) bodies, and multipart uploads, which may be larger.
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    # (At most 2 GiB - 1: a file's `size` is a GraphQL Int.)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=2**31 - 1)
    # How deeply JSON bodies and variables may nest; no input of the API needs more.
    max_json_depth: int = Field(default=32, ge=4)
    # Automatic persisted queries (app/persisted_queries.py): documents registered by their
    # SHA-256 are kept in Redis, shared by every API process, this long and up to this size.
    automatic_persisted_queries: bool = True
    persisted_query_ttl_seconds: int = Field(default=24 * 3600, ge=1)
    persisted_query_max_bytes: int = Field(default=32 * 1024, ge=256)
    # A manifest of the only operations that run (Apollo's or Relay's format); replaces APQ.
    persisted_queries_manifest: Path | None = None

    # When set, /metrics answers only requests with `Authorization: Bearer <one of these>`.
    metrics_token: str = ""

    # HTTP limits per API process. Slow or idle clients must not hold connections forever.
    # Proxies whose X-Forwarded-For/-Proto are believed (comma-separated IPs or networks,
    # "*" for any). Empty: the peer address is the client's, whatever the headers say.
    forwarded_allow_ips: str = ""
    http_limit_concurrency: int = Field(default=1000, ge=1)
    http_keepalive_timeout: int = Field(default=5, ge=1)
    http_request_timeout: float = Field(default=30, gt=0)
    http_max_header_bytes: int = Field(default=16 * 1024, ge=1024)

    # What a request that met a PostgreSQL or Redis outage is told to wait before it tries
    # again (seconds, the 503's Retry-After).
    outage_retry_after_seconds: int = Field(default=5, ge=1)

    db_pool_min: int = 2
    db_pool_max: int = 10
    # Subscriptions (WebSockets on /graphql): open sockets per process and per viewer (a
    # login or an API key); events one subscription may have waiting before its socket is
    # closed as too slow; how long events are kept for `after`, and the most one replays.
    max_sockets_per_process: int = Field(default=5000, ge=1)
    max_sockets_per_viewer: int = Field(default=20, ge=1)
    subscription_queue_size: int = Field(default=256, ge=1)
    event_retention_hours: int = Field(default=24, ge=1)
    event_replay_limit: int = Field(default=10_000, ge=1)
    # A socket's viewer is checked again on every access change PostgreSQL announces, and
    # at least this often (an expired session announces nothing).
    socket_recheck_seconds: float = Field(default=60, gt=0)
    # A socket must send connection_init within this time; after it, a WebSocket ping goes
    # out every interval and a peer that does not answer within the timeout is closed.
    socket_init_timeout_seconds: float = Field(default=10, gt=0)
    socket_ping_interval_seconds: float = Field(default=20, gt=0)
    socket_ping_timeout_seconds: float = Field(default=20, gt=0)
    # PostgreSQL itself when DATABASE_URL goes through PgBouncer in transaction pooling mode
    # (docs/scale.md): the few users of a session (the reference cache's notifications,
    # the daily run's advisory lock, the migrations' lock) connect here. Empty: DATABASE_URL.
    database_direct_url: str = ""
    # asyncpg's prepared statements per connection. PgBouncer before 1.21 (Debian 12 ships
    # 1.18) hands each transaction any server connection, where a statement prepared on
    # another is missing: set 0 behind it (unnamed statements, one more round trip a query;
    # docs/scale.md has the cost). 100 is asyncpg's default.
    database_statement_cache_size: int = Field(default=100, ge=0)

    # "json" writes every log line as one JSON object (request id, operation, viewer kind and
    # duration included); "text" is for people.
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    # The share of requests that get an access line (0 none, 1 all; server errors always
    # do). By default all in development and none in production, where it costs throughput.
    access_log: float | None = Field(default=None, ge=0, le=1)
    # A port on which `clientdesk worker` serves its own /metrics (jobs, pool); off when unset.
    worker_metrics_port: int | None = None
    # OpenTelemetry tracing of GraphQL and SQL, exported over OTLP/HTTP to this collector
    # (e.g. http://localhost:4318); off when unset. Needs the `otel` extra installed.
    otel_exporter_otlp_endpoint: str = ""
    otel_service_name: str = "clientdesk"
    # Dashboards that may call the API from a browser, with credentials: comma-separated
    # origins such as `https://dash.example.com`. None by default.
    cors_origins: str = ""

    @model_validator(mode="after")
    def _budget_outlasts_the_automation_wait(self) -> Settings:
        if self.request_time_budget_seconds <= self.automation_wait_seconds:
            raise ValueError(
                "REQUEST_TIME_BUDGET_SECONDS must be longer than AUTOMATION_WAIT_SECONDS: "
                "runAutomation would be stopped before its wait is over"
            )
        return self

    @model_validator(mode="after")
    def _s3_has_a_bucket(self) -> Settings:
        if self.file_storage == "s3" and not self.s3_bucket:
            raise ValueError("FILE_STORAGE=s3 needs S3_BUCKET")
        return self

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: str) -> str:
        """Only exact origins: a path or trailing slash never matches what browsers send,
        and a wildcard would hand every site the logged-in user's session."""
        for origin in _split(value):
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or origin != f"{parts.scheme}://{parts.netloc}"
                or "@" in parts.netloc
                or origin != origin.lower()
            ):
                raise ValueError(
                    f"CORS_ORIGINS: {origin!r} is not an origin like https://dash.example.com"
                )
        return value

    @property
    def cors_origin_list(self) -> list[str]:
        return _split(self.cors_origins)

    @property
    def card_secrets(self) -> tuple[str, ...]:
        return secret_lists.parse(self.cc_encryption_hash)

    @property
    def inbound_email_secrets(self) -> tuple[str, ...]:
        return secret_lists.parse(self.inbound_email_secret)

    @property
    def metrics_tokens(self) -> tuple[str, ...]:
        return secret_lists.parse(self.metrics_token)

    @property
    def direct_database_url(self) -> str:
        return self.database_direct_url or self.database_url

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def card_keyring(self) -> CardKeyring | None:
        """The card keys, or None when unset; malformed keys stop the start-up."""
        return CardKeyring.parse(self.card_encryption_keys) if self.card_encryption_keys else None

    def stripe_config(self) -> StripeConfig | None:
        """Stripe's configuration, or None where it is not set up (its gateway is not loaded)."""
        if not self.stripe_secret_key:
            return None
        return StripeConfig(secret_key=self.stripe_secret_key, api_base=self.stripe_api_base)

    @property
    def client_area_base_url(self) -> str:
        return (self.client_area_url or self.base_url).rstrip("/")

    @property
    def message_id_domain(self) -> str:
        sender = parseaddr(self.mail_from)[1]
        return self.mail_domain or sender.rpartition("@")[2] or "localhost"

    @property
    def secure_cookies(self) -> bool:
        """Cookies are `Secure` except when the API is served over plain HTTP on this machine
        (development), where a browser would otherwise never send them back."""
        parts = urlsplit(self.base_url)
        return not (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)

    @property
    def access_log_share(self) -> float:
        if self.access_log is not None:
            return self.access_log
        return 0.0 if self.environment == "production" else 1.0

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else self.environment == "development"

    @property
    def introspection_enabled(self) -> bool:
        if self.introspection is not None:
            return self.introspection
        return self.environment == "development"


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
