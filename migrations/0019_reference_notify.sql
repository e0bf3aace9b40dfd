-- migrate:up
-- The API keeps the general settings and the currencies in each process's memory; a change
-- to either table, by any connection, notifies them (delivered when its transaction
-- commits, and not at all when it rolls back) so that every process drops its copy.
CREATE FUNCTION notify_reference_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('clientdesk_reference', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER settings_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON settings
    FOR EACH STATEMENT EXECUTE FUNCTION notify_reference_change();
CREATE TRIGGER currencies_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON currencies
    FOR EACH STATEMENT EXECUTE FUNCTION notify_reference_change();
