-- migrate:up
-- Sub-account invitations (SPEC 2.4): a sub-account the account holder makes in the client
-- area has no login until whoever reads its address accepts the emailed invitation and
-- chooses a password. Until then the contact carries `invited_at` (when the newest invitation
-- was sent) and no login, so the address is claimed by no one; the invitation's token is held
-- by the contact, with the reset tokens' machinery (hashed, expiring, used once).
ALTER TABLE contacts
    ADD COLUMN invited_at timestamptz,
    ADD CONSTRAINT contacts_invited_without_login CHECK (invited_at IS NULL OR login_id IS NULL);

ALTER TABLE password_tokens
    ALTER COLUMN login_id DROP NOT NULL,
    ADD COLUMN contact_id bigint REFERENCES contacts (id) ON DELETE CASCADE,
    DROP CONSTRAINT password_tokens_purpose_check,
    ADD CONSTRAINT password_tokens_purpose_check CHECK (purpose IN ('RESET', 'INVITATION')),
    -- A reset token belongs to a login, an invitation's to the contact it makes a login for.
    ADD CONSTRAINT password_tokens_holder CHECK (
        CASE purpose
            WHEN 'INVITATION' THEN login_id IS NULL AND contact_id IS NOT NULL
            ELSE contact_id IS NULL AND login_id IS NOT NULL
        END);
CREATE INDEX password_tokens_contact_id ON password_tokens (contact_id)
    WHERE contact_id IS NOT NULL;
