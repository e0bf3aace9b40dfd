-- migrate:up
-- Merging clients (SPEC 7.1) leaves a redirect from each removed id to the client it went
-- into, so that `client(id)` and bookmarks keep working. A later merge of the kept client
-- moves its redirects along; deleting it removes them.
CREATE TABLE client_merges (
    merged_id   bigint PRIMARY KEY,
    into_id     bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    staff_id    bigint REFERENCES staff (id) ON DELETE SET NULL,
    merged_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX client_merges_into ON client_merges (into_id, merged_id);

-- Transactions outlive their client (SPEC 7.2): deleting it writes down who it was.
ALTER TABLE transactions
    ADD COLUMN client_name text,
    ADD COLUMN client_company_name text;

-- Merge and delete find a client's emails, unsent ones too (emails_client_sent holds only
-- the sent): without this they would scan the whole outbox under both clients' locks.
CREATE INDEX emails_client ON emails (client_id);
