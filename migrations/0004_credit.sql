-- migrate:up
-- The credit ledger (SPEC 3): every change of a client's credit is one signed row, and
-- clients.credit_balance is kept equal to their sum by the code that writes them, under the
-- client's row lock. Idempotency keys let a money mutation be retried without a second effect.

CREATE TABLE credit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id    bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    description  text NOT NULL CHECK (description <> ''),
    amount       numeric(14, 2) NOT NULL CHECK (amount <> 0),
    staff_id     bigint REFERENCES staff (id) ON DELETE SET NULL,
    -- The invoice the credit was applied to or came from; its foreign key arrives with the
    -- invoices table (0005).
    invoice_id   bigint
);
CREATE INDEX credit_log_client ON credit_log (client_id, created_at DESC, id DESC);

-- One row per (login, key): the first use stores a fingerprint of the operation and its
-- arguments and, in the same transaction, the result; a retry returns that result.
CREATE TABLE idempotency_keys (
    login_id     bigint NOT NULL REFERENCES logins (id) ON DELETE CASCADE,
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    operation    text NOT NULL,
    fingerprint  text NOT NULL,
    result       jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (login_id, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
