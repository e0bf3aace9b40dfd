-- migrate:up
-- The staff lists of every client's invoices, tickets and services (issue 20) are paged by
-- keyset: each page reads the index of its (filter, order) from the cursor on, so a deep
-- page costs what the first does. One index per order, entered by the filter that narrows
-- most (a status, then the sort expression and id); a client's rows are few, so its lists
-- are read from (client_id, expression, id). The bare id order and the clients' (client_id,
-- id) indexes exist already. A range of dates (dueBefore, dueAfter) is a range of the
-- DUE_DATE order's index. Plain CREATE INDEX: a migration runs in a transaction (about 2 s
-- per index at 2,000,000 rows; writes to the table wait meanwhile).
CREATE INDEX invoices_list_due ON invoices (due_date, id);
CREATE INDEX invoices_list_status ON invoices (status, id);
CREATE INDEX invoices_list_status_due ON invoices (status, due_date, id);
CREATE INDEX invoices_list_client_due ON invoices (client_id, due_date, id);

-- Services without a next due date sort last: the list's expression is never NULL.
CREATE INDEX services_list_due ON services ((coalesce(next_due_date, 'infinity'::date)), id);
CREATE INDEX services_list_status ON services (status, id);
CREATE INDEX services_list_status_due
    ON services (status, (coalesce(next_due_date, 'infinity'::date)), id);
CREATE INDEX services_list_client_due
    ON services (client_id, (coalesce(next_due_date, 'infinity'::date)), id);

CREATE INDEX tickets_list_updated ON tickets (updated_at, id);
CREATE INDEX tickets_list_status ON tickets (status, id);
CREATE INDEX tickets_list_status_updated ON tickets (status, updated_at, id);
CREATE INDEX tickets_list_client_updated ON tickets (client_id, updated_at, id);
