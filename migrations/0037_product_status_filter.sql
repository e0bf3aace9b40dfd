-- migrate:up
-- The staff session's product status filter (SPEC 1.9) covers domains too. Their statuses
-- are not those of services and addons (GRACE, REDEMPTION, …), so the domains' choice is a
-- column of its own beside `service_status_filter`, which services and addons share. NULL:
-- nothing chosen, every status shown.
ALTER TABLE sessions ADD COLUMN domain_status_filter text[];
