-- migrate:up
-- The daily automation (SPEC 9): one row per run date. A run claims its date by inserting
-- the row, so a second claim for the same date finds it and does nothing (SPEC 9.6); each
-- step writes its counts and duration here in the transaction that does its work, so a run
-- cut short resumes after the last step that committed.
CREATE TABLE automation_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    as_of        date NOT NULL UNIQUE,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    counts       jsonb NOT NULL DEFAULT '{}',   -- count name -> number
    durations    jsonb NOT NULL DEFAULT '{}',   -- step -> seconds
    failures     jsonb NOT NULL DEFAULT '[]'    -- [{step, message}]
);

-- Emails that must go out once whatever repeats them (the automation's invoice notices)
-- carry a key; a second insert of the same key is skipped.
ALTER TABLE emails ADD COLUMN dedupe_key text;
CREATE UNIQUE INDEX emails_dedupe_key ON emails (dedupe_key) WHERE dedupe_key IS NOT NULL;

-- A late fee is added once per invoice (SPEC 9.4).
ALTER TABLE invoices ADD COLUMN late_fee_added boolean NOT NULL DEFAULT false;
