-- migrate:up
-- Staff administration (SPEC 11.1): roles beyond the four built-in ones, and invitations.
--
-- Every role has a row, so that whatever names a role (a staff member, later an API key)
-- refers to one id space. A built-in role's row carries only its name: what it may do stays
-- in the code (domain/auth/permissions.py ROLE_PERMISSIONS), so a release that changes a
-- built-in role changes it everywhere at once. A custom role's row holds its permissions.
CREATE TABLE staff_roles (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name citext NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),
    built_in boolean NOT NULL DEFAULT false,
    permissions text[],
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT staff_roles_permissions_of_custom CHECK (built_in = (permissions IS NULL))
);
INSERT INTO staff_roles (name, built_in)
VALUES ('ADMIN', true), ('BILLING', true), ('SUPPORT', true), ('READ_ONLY', true);

-- A member holds a built-in role by its name (`role`, as before) or a custom one by its row
-- (`custom_role_id`), never both. RESTRICT: a role in use cannot be deleted, whichever
-- request assigned it last (the domain says so first, with a friendlier message).
ALTER TABLE staff
    ALTER COLUMN role DROP NOT NULL,
    ADD COLUMN custom_role_id bigint REFERENCES staff_roles (id) ON DELETE RESTRICT,
    ADD CONSTRAINT staff_one_role CHECK ((role IS NULL) <> (custom_role_id IS NULL));
CREATE INDEX staff_custom_role_id ON staff (custom_role_id) WHERE custom_role_id IS NOT NULL;

-- A staff invitation's set-password link is held by the invited member's login, which has
-- no password until the link is followed (domain/staff/invitations.py).
ALTER TABLE password_tokens
    DROP CONSTRAINT password_tokens_purpose_check,
    ADD CONSTRAINT password_tokens_purpose_check
        CHECK (purpose IN ('RESET', 'INVITATION', 'STAFF_INVITATION'));
