-- migrate:up
-- Login address changes (SPEC 5.5) hold tokens of their own purpose, EMAIL_CHANGE, carrying
-- the new address (the column comes with 0024). 0025 redefined the purposes after 0024 was
-- written, so the list is completed here.
ALTER TABLE password_tokens
    DROP CONSTRAINT password_tokens_purpose_check,
    ADD CONSTRAINT password_tokens_purpose_check
        CHECK (purpose IN ('RESET', 'INVITATION', 'STAFF_INVITATION', 'EMAIL_CHANGE'));
