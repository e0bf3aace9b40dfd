-- migrate:up
-- The daily run sets clients ACTIVE or INACTIVE by the thousand (SPEC 9.1–9.3). With no
-- index on `status` and room left on each page, such an update is a HOT update: one new
-- row version on the same page, and none of the clients' indexes (the trigram one
-- included) is written. Measured at 1,000,000 clients, 250,000 status changes: 28 s with
-- the index, 13 s without it on full pages, 3–9 s without it on pages with room. Status
-- filters in staff lists walk the list's order index instead and skip the other statuses.
DROP INDEX clients_status;
-- New pages are filled to 80 %; pages written before keep their fill until rewritten
-- (VACUUM FULL clients, or pg_repack without the lock).
ALTER TABLE clients SET (fillfactor = 80);

-- Credit is spent on new invoices (SPEC 3.5) by reading the few clients who have some:
-- without this index each generation run read all clients twice to find them (1.2 s at
-- 1,000,000 clients).
CREATE INDEX clients_with_credit ON clients (id) WHERE credit_balance > 0;
