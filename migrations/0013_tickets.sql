-- migrate:up
-- Support tickets (SPEC 2.3): opened by a client or one of its contacts (in the client area
-- or by inbound email) and answered by staff. Only `tickets` references clients, so that a
-- client merge moves a client's tickets, messages and all, with one UPDATE; deleting a
-- client deletes its tickets.
CREATE TABLE tickets (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id   bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    -- Who opened it: the account holder, or a contact (whom staff replies then go to).
    opened_by   text NOT NULL CHECK (opened_by IN ('CLIENT', 'CONTACT')),
    -- The opening contact; null for the holder, or once that contact was deleted.
    contact_id  bigint REFERENCES contacts (id) ON DELETE SET NULL,
    -- The opener's name and address as they were when it was opened.
    opener      text NOT NULL,
    subject     text NOT NULL CHECK (subject <> '' AND length(subject) <= 255),
    status      text NOT NULL DEFAULT 'OPEN'
                CHECK (status IN ('OPEN', 'ANSWERED', 'CUSTOMER_REPLY')),
    opened_at   timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (opened_by = 'CONTACT' OR contact_id IS NULL)
);
CREATE INDEX tickets_client_id ON tickets (client_id, id);
CREATE INDEX tickets_contact_id ON tickets (contact_id) WHERE contact_id IS NOT NULL;

-- The conversation of a ticket, oldest first. `author` is the writer's name and address
-- (or a staff member's name) as it was when written.
CREATE TABLE ticket_messages (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    staff_id    bigint REFERENCES staff (id) ON DELETE SET NULL,
    author      text NOT NULL,
    body        text NOT NULL CHECK (body <> '' AND length(body) <= 20000),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_messages_ticket_id ON ticket_messages (ticket_id, id);
