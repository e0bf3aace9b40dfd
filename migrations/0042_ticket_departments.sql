-- migrate:up
-- Tickets for both sides (SPEC 15.1, issue 23): departments, the whole set of statuses,
-- internal notes, and emails sent from a department's own address.

-- A department answers the tickets filed under it; emails about them go from its address.
CREATE TABLE ticket_departments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (name <> '' AND length(name) <= 100),
    email       citext NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- One department per name, whatever its case ("Sales" and "sales" are one).
CREATE UNIQUE INDEX ticket_departments_name ON ticket_departments (lower(name));

-- Deleting a department (no API does yet) leaves its tickets without one.
ALTER TABLE tickets
    ADD COLUMN department_id bigint REFERENCES ticket_departments (id) ON DELETE SET NULL;
-- The staff list's `departmentId` filter, newest first.
CREATE INDEX tickets_department_id ON tickets (department_id, id) WHERE department_id IS NOT NULL;

-- ON_HOLD: staff wait for something else; CLOSED: done, until a client writes again. The
-- dashboard's figures (0030, dashboard_ticket_figures) already count every status but CLOSED
-- as open, and only OPEN and CUSTOMER_REPLY as awaiting a reply.
ALTER TABLE tickets DROP CONSTRAINT tickets_status_check;
ALTER TABLE tickets ADD CONSTRAINT tickets_status_check
    CHECK (status IN ('OPEN', 'ANSWERED', 'CUSTOMER_REPLY', 'ON_HOLD', 'CLOSED'));

-- An internal note: staff write it for staff. The client area never reads it, it is never
-- emailed or exported, and its event reaches staff only.
ALTER TABLE ticket_messages ADD COLUMN internal boolean NOT NULL DEFAULT false;

-- Events only staff may receive (an internal note's). record_events (0031) takes, after the
-- optional fixed kind, an optional SQL expression over the row `n` saying so.
ALTER TABLE events ADD COLUMN staff_only boolean NOT NULL DEFAULT false;

CREATE OR REPLACE FUNCTION record_events() RETURNS trigger LANGUAGE plpgsql AS $$
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
             INSERT INTO events (topic, kind, object_id, client_id, staff_only)
             SELECT %L, %L, %s, %s, %s FROM %s ORDER BY 3
             RETURNING id)
         SELECT min(id), max(id) FROM recorded',
        TG_ARGV[0], COALESCE(TG_ARGV[3], kind), TG_ARGV[1], TG_ARGV[2],
        COALESCE(TG_ARGV[4], 'false'), source)
        INTO first_id, last_id;
    IF first_id IS NOT NULL THEN
        PERFORM pg_notify('clientdesk_events',
                          format('%s %s %s', pg_current_xact_id(), first_id, last_id));
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER ticket_messages_inserted_events ON ticket_messages;
DROP TRIGGER ticket_messages_updated_events ON ticket_messages;
DROP TRIGGER ticket_messages_deleted_events ON ticket_messages;
CREATE TRIGGER ticket_messages_inserted_events AFTER INSERT ON ticket_messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION record_events('TICKET', 'n.ticket_id',
        '(SELECT t.client_id FROM tickets t WHERE t.id = n.ticket_id)', 'UPDATED', 'n.internal');
CREATE TRIGGER ticket_messages_updated_events AFTER UPDATE ON ticket_messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION record_events('TICKET', 'n.ticket_id',
        '(SELECT t.client_id FROM tickets t WHERE t.id = n.ticket_id)', 'UPDATED', 'n.internal');
CREATE TRIGGER ticket_messages_deleted_events AFTER DELETE ON ticket_messages
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION record_events('TICKET', 'n.ticket_id',
        '(SELECT t.client_id FROM tickets t WHERE t.id = n.ticket_id)', 'UPDATED', 'n.internal');

-- The From of an email that is not the installation's MAIL_FROM (a department's address);
-- null: MAIL_FROM.
ALTER TABLE emails ADD COLUMN from_address text;

-- Files a ticket message carries (SPEC 15.1), stored as client files are (domain/files: the
-- configured store, under a generated name, with the upload limit). Whoever reads the
-- ticket downloads them, an internal note's only staff (GET /ticket-attachments/{id}).
CREATE TABLE ticket_attachments (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id    bigint NOT NULL REFERENCES ticket_messages (id) ON DELETE CASCADE,
    filename      text NOT NULL CHECK (filename <> ''),
    stored_name   text NOT NULL UNIQUE CHECK (stored_name ~ '^[0-9a-f]{32}$'),
    content_type  text NOT NULL,
    size          bigint NOT NULL CHECK (size >= 0),
    uploaded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_attachments_message_id ON ticket_attachments (message_id, id);
