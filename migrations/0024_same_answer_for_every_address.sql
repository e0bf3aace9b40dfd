-- migrate:up
-- Forgotten passwords (SPEC 5.2): the request itself only writes its address here, the same
-- statement whether or not the address has a login, and hands the row's id to the workers,
-- which look the address up, issue the token and queue the email. So the request costs the
-- same for every address, and its timing tells nothing of which have logins. A worker
-- deletes the row as it answers it (no list of asked-for addresses is kept); a row whose
-- hand-over was lost (Redis away) is answered by the relay.
CREATE TABLE password_reset_requests (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email        text NOT NULL CHECK (length(email) <= 255),
    requested_at timestamptz NOT NULL DEFAULT now()
);

-- Changing a login's address (SPEC 5.5): the emailed confirmation link is a one-time token
-- held by the login that carries the new address; the address changes only when the link
-- is followed, so whether some login holds it is told only to whoever reads that address.
-- The purpose itself is allowed by 0027, after 0025 has redefined the list of purposes.
ALTER TABLE password_tokens
    ADD COLUMN new_email citext,
    ADD CONSTRAINT password_tokens_new_email
        CHECK ((purpose = 'EMAIL_CHANGE') = (new_email IS NOT NULL));
