-- migrate:up
-- The foundation: logins and sessions shared by staff and client owners, clients with their
-- billing flags, the email outbox (which is also the client's email log), settings and audit.

CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE currencies (
    code        char(3) PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
    prefix      text NOT NULL DEFAULT '',
    suffix      text NOT NULL DEFAULT '',
    is_default  boolean NOT NULL DEFAULT false
);
-- Exactly one currency is the installation's default, used for clients created without one.
CREATE UNIQUE INDEX currencies_one_default ON currencies (is_default) WHERE is_default;

INSERT INTO currencies (code, prefix, suffix, is_default) VALUES
    ('USD', '$', ' USD', true),
    ('EUR', '€', ' EUR', false),
    ('GBP', '£', ' GBP', false),
    ('CAD', '$', ' CAD', false),
    ('AUD', '$', ' AUD', false),
    ('CHF', '', ' CHF', false),
    ('JPY', '¥', ' JPY', false),
    ('INR', '₹', ' INR', false);

CREATE TABLE payment_gateways (
    name          text PRIMARY KEY,
    display_name  text NOT NULL,
    -- MERCHANT gateways capture a stored card automatically; MANUAL ones wait for the client.
    kind          text NOT NULL CHECK (kind IN ('MERCHANT', 'MANUAL')),
    enabled       boolean NOT NULL DEFAULT true
);

INSERT INTO payment_gateways (name, display_name, kind) VALUES
    ('banktransfer', 'Bank Transfer', 'MANUAL'),
    ('mailin', 'Mail In Payment', 'MANUAL'),
    ('testcard', 'Test Card Gateway', 'MERCHANT');

CREATE TABLE settings (
    key    text PRIMARY KEY,
    value  jsonb NOT NULL
);

-- One login identity (email, password, TOTP, sessions) for every kind of person who signs in.
CREATE TABLE logins (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email          citext NOT NULL UNIQUE,
    password_hash  text,
    totp_secret    text,
    last_login_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE staff (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login_id    bigint NOT NULL UNIQUE REFERENCES logins (id) ON DELETE CASCADE,
    first_name  text NOT NULL,
    last_name   text NOT NULL,
    role        text NOT NULL CHECK (role IN ('ADMIN', 'BILLING', 'SUPPORT', 'READ_ONLY')),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash    bytea NOT NULL UNIQUE,
    login_id      bigint NOT NULL REFERENCES logins (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    ip_address    text,
    user_agent    text
);
CREATE INDEX sessions_login_id ON sessions (login_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE clients (
    id                        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_login_id            bigint NOT NULL UNIQUE REFERENCES logins (id),
    first_name                text NOT NULL CHECK (first_name <> ''),
    last_name                 text NOT NULL CHECK (last_name <> ''),
    company_name              text,
    email                     citext NOT NULL UNIQUE,
    phone_number              text,
    address1                  text,
    address2                  text,
    city                      text,
    state                     text,
    postcode                  text,
    country                   char(2) CHECK (country ~ '^[A-Z]{2}$'),
    language                  text,
    currency                  char(3) NOT NULL REFERENCES currencies (code),
    notes                     text,
    status                    text NOT NULL DEFAULT 'ACTIVE'
                              CHECK (status IN ('ACTIVE', 'INACTIVE', 'CLOSED')),
    overdue_notices_disabled  boolean NOT NULL DEFAULT false,
    late_fees_exempt          boolean NOT NULL DEFAULT false,
    tax_exempt                boolean NOT NULL DEFAULT false,
    separate_invoices         boolean NOT NULL DEFAULT false,
    cc_processing_disabled    boolean NOT NULL DEFAULT false,
    default_payment_method    text REFERENCES payment_gateways (name),
    credit_balance            numeric(14, 2) NOT NULL DEFAULT 0 CHECK (credit_balance >= 0),
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    -- What staff search on: name, company and email, lower-cased, matched by trigrams.
    search_text               text GENERATED ALWAYS AS (
        lower(first_name || ' ' || last_name || ' ' || coalesce(company_name, '') || ' '
              || email::text)
    ) STORED
);
CREATE INDEX clients_search_text ON clients USING gin (search_text gin_trgm_ops);
CREATE INDEX clients_status ON clients (status, id);
CREATE INDEX clients_order_name ON clients (lower(last_name || ', ' || first_name), id);
CREATE INDEX clients_order_company ON clients (lower(coalesce(company_name, '')), id);
CREATE INDEX clients_order_email ON clients (lower(email::text), id);
CREATE INDEX clients_order_created_at ON clients (created_at, id);

-- The outbox: a row is written in the transaction that causes the email, sent by a worker,
-- and once sent it is the client's email log entry.
CREATE TABLE emails (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id    bigint REFERENCES clients (id) ON DELETE CASCADE,
    template     text NOT NULL,
    category     text NOT NULL
                 CHECK (category IN ('GENERAL', 'INVOICE', 'SUPPORT', 'PRODUCT', 'DOMAIN',
                                     'AFFILIATE', 'ACCOUNT')),
    to_address   text NOT NULL,
    to_name      text,
    context      jsonb NOT NULL DEFAULT '{}',
    message_id   text NOT NULL UNIQUE,
    subject      text,
    body         text,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text,
    -- Lets the API find, right after its commit, the emails its own transaction queued.
    created_xid  xid8 NOT NULL DEFAULT pg_current_xact_id(),
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz
);
CREATE INDEX emails_created_xid ON emails (created_xid) WHERE sent_at IS NULL;
CREATE INDEX emails_unsent ON emails (created_at) WHERE sent_at IS NULL;
CREATE INDEX emails_client_sent ON emails (client_id, sent_at DESC) WHERE sent_at IS NOT NULL;

-- Kept when a client is deleted: the trail must outlive what it describes.
CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    staff_id   bigint REFERENCES staff (id) ON DELETE SET NULL,
    action     text NOT NULL,
    client_id  bigint,
    changes    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_client ON audit_log (client_id, id DESC);
