-- migrate:up
-- Live dashboards (subscriptions): every change to a client, an invoice, a ticket, an email or
-- an automation run is recorded as an event by a trigger, in the transaction that makes the
-- change, whichever code path (API, worker, import, psql) makes it. An event exists only if
-- its change committed, and survives the process that made it. Each statement's events are
-- announced by one NOTIFY (delivered when, and only when, the transaction commits, in commit
-- order) naming the transaction and the range of ids; each API process reads them from here.
CREATE TABLE events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic text NOT NULL
        CHECK (topic IN ('CLIENT', 'INVOICE', 'TICKET', 'EMAIL', 'AUTOMATION_RUN')),
    kind text NOT NULL CHECK (kind IN ('CREATED', 'UPDATED', 'DELETED')),
    object_id bigint NOT NULL,
    -- No foreign key: the event of a client's deletion outlives the client.
    client_id bigint,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- The periodic purge of events past the retention window.
CREATE INDEX events_at ON events (at);

-- TG_ARGV: the topic, the SQL of the object's id and of its client's id over a row `n`, and
-- optionally the kind every event of this trigger has (a ticket's new message updates it).
-- An UPDATE that changed nothing records nothing.
CREATE FUNCTION record_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    source text;
    kind text;
    first_id bigint;
    last_id bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        source := 'new_rows n';
        kind := 'CREATED';
    ELSIF TG_OP = 'UPDATE' THEN
        source := 'new_rows n JOIN old_rows o ON o.id = n.id WHERE o IS DISTINCT FROM n';
        kind := 'UPDATED';
    ELSE
        source := 'old_rows n';
        kind := 'DELETED';
    END IF;
    EXECUTE format(
        'WITH recorded AS (
             INSERT INTO events (topic, kind, object_id, client_id)
             SELECT %L, %L, %s, %s FROM %s ORDER BY 3
             RETURNING id)
         SELECT min(id), max(id) FROM recorded',
        TG_ARGV[0], COALESCE(TG_ARGV[3], kind), TG_ARGV[1], TG_ARGV[2], source)
        INTO first_id, last_id;
    IF first_id IS NOT NULL THEN
        PERFORM pg_notify('clientdesk_events',
                          format('%s %s %s', pg_current_xact_id(), first_id, last_id));
    END IF;
    RETURN NULL;
END;
$$;

-- Transition tables allow one event per trigger: three triggers per table.
CREATE PROCEDURE record_events_of(source regclass, topic text, object_sql text,
                                  client_sql text, fixed_kind text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    name text := replace(source::text, '.', '_');
    args text := format('%L, %L, %L', topic, object_sql, client_sql)
                 || CASE WHEN fixed_kind IS NULL THEN '' ELSE format(', %L', fixed_kind) END;
BEGIN
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION record_events(%s)',
                   name || '_inserted_events', source, args);
    EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s
                    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION record_events(%s)',
                   name || '_updated_events', source, args);
    EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION record_events(%s)',
                   name || '_deleted_events', source, args);
END;
$$;

CALL record_events_of('clients', 'CLIENT', 'n.id', 'n.id');
CALL record_events_of('invoices', 'INVOICE', 'n.id', 'n.client_id');
CALL record_events_of('tickets', 'TICKET', 'n.id', 'n.client_id');
CALL record_events_of('ticket_messages', 'TICKET', 'n.ticket_id',
                      '(SELECT t.client_id FROM tickets t WHERE t.id = n.ticket_id)', 'UPDATED');
CALL record_events_of('emails', 'EMAIL', 'n.id', 'n.client_id');
CALL record_events_of('automation_runs', 'AUTOMATION_RUN', 'n.id', 'NULL::bigint');
DROP PROCEDURE record_events_of;

-- Whatever may end a subscriber's right to read (a logout, an expired or revoked session or
-- key, a disabled staff member, a changed role or grant, a closed client) notifies the login
-- concerned ('*': any login), so that each API process checks its sockets again at once.
CREATE FUNCTION notify_access_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- The row as JSON: one function for tables of different columns.
    affected text := CASE
        WHEN TG_LEVEL = 'STATEMENT' THEN '*'
        WHEN TG_TABLE_NAME = 'api_keys' THEN
            (SELECT s.login_id::text FROM staff s WHERE s.id = (to_jsonb(OLD)->>'staff_id')::bigint)
        ELSE to_jsonb(OLD)->>'login_id'
    END;
BEGIN
    PERFORM pg_notify('clientdesk_access', COALESCE(affected, '*'));
    RETURN NULL;
END;
$$;

CREATE TRIGGER sessions_access_changed AFTER DELETE OR UPDATE OF expires_at ON sessions
    FOR EACH ROW EXECUTE FUNCTION notify_access_change();
CREATE TRIGGER staff_access_changed
    AFTER DELETE OR UPDATE OF active, role, custom_role_id ON staff
    FOR EACH ROW EXECUTE FUNCTION notify_access_change();
CREATE TRIGGER contacts_access_changed
    AFTER DELETE OR UPDATE OF permissions, login_id, client_id ON contacts
    FOR EACH ROW EXECUTE FUNCTION notify_access_change();
CREATE TRIGGER api_keys_access_changed
    AFTER DELETE OR UPDATE OF revoked_at, expires_at, role_id ON api_keys
    FOR EACH ROW EXECUTE FUNCTION notify_access_change();
CREATE TRIGGER staff_roles_access_changed AFTER DELETE OR UPDATE ON staff_roles
    FOR EACH STATEMENT EXECUTE FUNCTION notify_access_change();
CREATE TRIGGER clients_access_changed AFTER DELETE OR UPDATE OF status, owner_login_id ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION notify_access_change();
