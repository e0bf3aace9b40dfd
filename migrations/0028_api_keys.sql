-- migrate:up
-- API keys for integrations and dashboards (SPEC 11.3): each acts with a role's permissions
-- (less those a key never holds), on behalf of the staff member who made it.
--
-- Only a SHA-256 of the secret is kept: a secret has 256 random bits, so a fast hash is as
-- safe as a slow one and costs nothing per request. A request finds its key by `prefix`
-- (shown in the list, so that staff can tell keys apart) and compares the hash.
-- CASCADE from staff: a key never outlives the member it acts for; RESTRICT from roles: a
-- role a key names cannot be deleted (domain/staff/roles.py says so first).
CREATE TABLE api_keys (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    prefix text NOT NULL UNIQUE,
    secret_hash bytea NOT NULL,
    staff_id bigint NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    role_id bigint NOT NULL REFERENCES staff_roles (id) ON DELETE RESTRICT,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX api_keys_staff_id ON api_keys (staff_id);
CREATE INDEX api_keys_role_id ON api_keys (role_id);

-- An audit entry made by a key names it: the transaction of a key's request sets
-- clientdesk.api_key_id (resolvers/context.py), so every INSERT of the trail, whichever
-- module writes it, records the key without passing it along.
ALTER TABLE audit_log
    ADD COLUMN api_key_id bigint
        DEFAULT NULLIF(current_setting('clientdesk.api_key_id', true), '')::bigint;
