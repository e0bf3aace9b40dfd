-- migrate:up
-- Retries of the outbox (issue 6): every attempt is counted on the row before the email is
-- sent, a failure waits until `next_attempt_at` before the relay hands it over again, and
-- after the last allowed attempt the row is given up on (`failed_at`) and shown to staff.

ALTER TABLE emails
    ADD COLUMN next_attempt_at timestamptz,
    ADD COLUMN failed_at       timestamptz,
    -- An email is sent or given up on, never both.
    ADD CONSTRAINT emails_sent_or_failed CHECK (sent_at IS NULL OR failed_at IS NULL);

-- What the relay scans: emails still to be sent (failed ones wait for staff).
DROP INDEX emails_unsent;
CREATE INDEX emails_pending ON emails (created_at) WHERE sent_at IS NULL AND failed_at IS NULL;
-- The staff list of failed emails, newest first.
CREATE INDEX emails_failed ON emails (id DESC) WHERE failed_at IS NOT NULL;
