-- migrate:up
-- Two-factor login for every login kind (SPEC 11.2). Nothing here touches the staff table:
-- a login's second factor lives on `logins` already, whoever holds the login.
--
-- Whether a session passed the second factor when it was opened: with the general setting
-- requireStaffTwoFactor on, a staff session that did not may only set two-factor up, and
-- reveals no card number. Sessions opened before this migration did not.
ALTER TABLE sessions ADD COLUMN two_factor_passed boolean NOT NULL DEFAULT false;

-- The recovery codes of a login, given when its two-factor setup is confirmed (and again on
-- request): each is 80 random bits, so a keyed SHA-256 (HMAC under the login's `salt`)
-- keeps them as safe as argon2 would, at a login cost of one hash instead of up to ten on
-- the password-hashing threads. Using a code removes its hash from `code_hashes`, in the
-- one statement that checks it: a code works once, whatever runs at the same time.
CREATE TABLE recovery_codes (
    login_id    bigint PRIMARY KEY REFERENCES logins (id) ON DELETE CASCADE,
    salt        bytea NOT NULL CHECK (length(salt) = 16),
    code_hashes bytea[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
