-- migrate:up
-- Password reset links (SPEC 5.2, 5.3): only a SHA-256 hash of each token is kept; a token
-- expires, and is spent by the one redemption that marks it used, for its purpose only.
CREATE TABLE password_tokens (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    login_id    bigint NOT NULL REFERENCES logins (id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('RESET')),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_tokens_login_id ON password_tokens (login_id);

-- Two-factor secrets (SPEC 1.7) are AES-GCM ciphertext under the card keys, bound to their
-- login; nothing ever set the clear-text column, so it goes. A sealed secret with
-- totp_enabled false is a setup waiting for its confirmation code.
ALTER TABLE logins DROP COLUMN totp_secret;
ALTER TABLE logins
    ADD COLUMN totp_enabled     boolean NOT NULL DEFAULT false,
    ADD COLUMN totp_key_version integer CHECK (totp_key_version > 0),
    ADD COLUMN totp_nonce       bytea CHECK (length(totp_nonce) = 12),
    ADD COLUMN totp_ciphertext  bytea,
    ADD CONSTRAINT logins_totp_sealed CHECK (
        (totp_key_version IS NULL) = (totp_nonce IS NULL)
        AND (totp_nonce IS NULL) = (totp_ciphertext IS NULL)
        AND (NOT totp_enabled OR totp_ciphertext IS NOT NULL));
