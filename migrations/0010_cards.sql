-- migrate:up
-- A client's one stored card (SPEC 4). Only what staff may see is kept in the clear; the
-- number is AES-GCM ciphertext bound to the client's id, under a versioned key so that
-- `clientdesk rotate-card-key` can re-encrypt every card. Clearing the card deletes the row.
CREATE TABLE cards (
    client_id     bigint PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
    card_type     text NOT NULL,
    last_four     char(4) NOT NULL CHECK (last_four ~ '^[0-9]{4}$'),
    expiry        char(5) NOT NULL CHECK (expiry ~ '^(0[1-9]|1[0-2])/[0-9]{2}$'),
    issue_number  text CHECK (issue_number ~ '^[0-9]{1,4}$'),
    start_date    char(5) CHECK (start_date ~ '^(0[1-9]|1[0-2])/[0-9]{2}$'),
    key_version   integer NOT NULL CHECK (key_version > 0),
    nonce         bytea NOT NULL CHECK (length(nonce) = 12),
    ciphertext    bytea NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Rotation finds the cards still under an older key.
CREATE INDEX cards_key_version ON cards (key_version);
