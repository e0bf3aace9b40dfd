-- migrate:up
-- An emailed answer joined a ticket by its sequential number alone ("[Ticket #2]"), so a
-- forged From with that subject wrote into ticket 2. Each ticket now has a random reply
-- token, which the reference its emails carry includes ("[Ticket #2-<token>]"); an answer
-- joins a ticket only with it (domain/tickets/inbound.py).
--
-- Kept readable, not hashed: every staff reply emails it again, and the API shows the
-- reference to those who read the ticket (staff, the client area). It grants nothing by
-- itself (the sender must also be allowed on the ticket), and it is no more secret than the
-- conversation it threads. 64 bits of PostgreSQL's strong random source (gen_random_uuid,
-- hashed to spread its fixed version bits), as lower-case hex so that a subject's case does
-- not matter. The default is evaluated per row, so existing tickets get one of their own.
ALTER TABLE tickets
    ADD COLUMN reply_token text NOT NULL
        DEFAULT left(encode(sha256(gen_random_uuid()::text::bytea), 'hex'), 16)
        CHECK (reply_token ~ '^[0-9a-f]{16}$');

-- A message received by email whose sender the mail relay did not authenticate (no DMARC
-- pass): staff see it flagged, since its From may be forged. Messages stored before this
-- migration were never asked about and stay unflagged.
ALTER TABLE ticket_messages ADD COLUMN unverified_sender boolean NOT NULL DEFAULT false;
