-- migrate:up
-- The dashboard's figures (SPEC 12.3) as counters kept exact by triggers in the transaction
-- of each change, so that reading them costs a few index rows at any number of clients.
--
-- Statement-level triggers with transition tables: one upsert per key a statement touches,
-- not one per row, so the daily run's set-based status change or invoice generation over
-- 100,000 rows adds one aggregate, not 100,000 upserts.
--
-- Hot rows: every counter key has up to 8 rows (`slot`, the writing backend's pid mod 8),
-- summed on read. Two transactions on different backends (the API's pool, the workers) then
-- rarely wait on one row lock until commit, as they would on a single "emails queued" or
-- "unpaid today" row; a slot may go negative, only the sum means anything. Each statement
-- upserts its keys in key order, so two statements never lock the same rows crosswise.
--
-- Unpaid invoices are kept per (due date, currency): overdue means due before today, and
-- today moves without any write, so overdue is the sum of the buckets before today (a range
-- of the primary key). An invoice's currency is its client's (SPEC 1.6: relabelling the
-- client relabels its invoices), so a currency change moves the client's unpaid buckets.
-- Income is kept per (day, currency), the day in the installation's time zone (the one the
-- daily run uses); changing that zone rebuilds it. Refunds: none are stored yet (every
-- transaction is a payment, amount > 0); a refund table must feed `dashboard_income` too.
CREATE TABLE dashboard_counts (
    figure text NOT NULL,
    slot   smallint NOT NULL,
    count  bigint NOT NULL,
    PRIMARY KEY (figure, slot)
);

CREATE TABLE dashboard_unpaid (
    due_date date NOT NULL,
    currency character(3) NOT NULL,
    slot     smallint NOT NULL,
    count    bigint NOT NULL,
    amount   numeric NOT NULL,
    PRIMARY KEY (due_date, currency, slot)
);

CREATE TABLE dashboard_income (
    day      date NOT NULL,
    currency character(3) NOT NULL,
    slot     smallint NOT NULL,
    amount   numeric NOT NULL,
    PRIMARY KEY (day, currency, slot)
);

CREATE FUNCTION dashboard_slot() RETURNS smallint
    LANGUAGE sql STABLE AS $$ SELECT (pg_backend_pid() % 8)::smallint $$;

CREATE FUNCTION dashboard_zone() RETURNS text
    LANGUAGE sql STABLE AS $$
    SELECT COALESCE((SELECT value->>'time_zone' FROM settings WHERE key = 'automation'), 'UTC')
$$;

-- What a client, ticket or email row counts for; a deleted row counts -1 for each.
CREATE FUNCTION dashboard_client_figures(status text) RETURNS text[]
    LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY['clients.' || status] $$;

CREATE FUNCTION dashboard_ticket_figures(status text) RETURNS text[]
    LANGUAGE sql IMMUTABLE AS $$
    SELECT array_remove(ARRAY[
        CASE WHEN status <> 'CLOSED' THEN 'tickets.open' END,
        -- OPEN: no staff reply yet; CUSTOMER_REPLY: the client wrote after one.
        CASE WHEN status IN ('OPEN', 'CUSTOMER_REPLY') THEN 'tickets.awaiting_reply' END
    ], NULL)
$$;

CREATE FUNCTION dashboard_email_figures(sent_at timestamptz, failed_at timestamptz)
    RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT array_remove(ARRAY[CASE WHEN failed_at IS NOT NULL THEN 'emails.failed'
                                   WHEN sent_at IS NULL THEN 'emails.queued' END], NULL)
$$;

CREATE FUNCTION dashboard_add_counts(deltas jsonb) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO dashboard_counts AS d (figure, slot, count)
    SELECT key, dashboard_slot(), value::bigint
      FROM jsonb_each_text(deltas) WHERE value::bigint <> 0 ORDER BY key
    ON CONFLICT (figure, slot) DO UPDATE SET count = d.count + excluded.count
$$;

-- One function per table: `figures` of the old rows count -1, of the new rows +1.
CREATE FUNCTION dashboard_rows_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    deltas jsonb;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM dashboard_counts WHERE figure LIKE TG_ARGV[0] || '.%';
        RETURN NULL;
    END IF;
    EXECUTE format(
        $q$SELECT jsonb_object_agg(figure, n) FROM (
               SELECT figure, sum(n) AS n FROM (%s) AS each_row, unnest(figures) AS figure
                GROUP BY figure) AS per_figure$q$,
        concat_ws(' UNION ALL ',
            CASE WHEN TG_OP IN ('UPDATE', 'DELETE')
                 THEN format('SELECT %s AS figures, -1 AS n FROM old_rows', TG_ARGV[1]) END,
            CASE WHEN TG_OP IN ('INSERT', 'UPDATE')
                 THEN format('SELECT %s AS figures, 1 AS n FROM new_rows', TG_ARGV[1]) END))
    INTO deltas;
    PERFORM dashboard_add_counts(COALESCE(deltas, '{}'));
    RETURN NULL;
END $$;

CREATE TRIGGER dashboard_clients_inserted AFTER INSERT ON clients
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION dashboard_rows_changed('clients', 'dashboard_client_figures(status)');
CREATE TRIGGER dashboard_clients_updated AFTER UPDATE ON clients
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION dashboard_rows_changed('clients', 'dashboard_client_figures(status)');
CREATE TRIGGER dashboard_clients_deleted AFTER DELETE ON clients
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION dashboard_rows_changed('clients', 'dashboard_client_figures(status)');
CREATE TRIGGER dashboard_clients_truncated AFTER TRUNCATE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_rows_changed('clients');

CREATE TRIGGER dashboard_tickets_inserted AFTER INSERT ON tickets
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION dashboard_rows_changed('tickets', 'dashboard_ticket_figures(status)');
CREATE TRIGGER dashboard_tickets_updated AFTER UPDATE ON tickets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION dashboard_rows_changed('tickets', 'dashboard_ticket_figures(status)');
CREATE TRIGGER dashboard_tickets_deleted AFTER DELETE ON tickets
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION dashboard_rows_changed('tickets', 'dashboard_ticket_figures(status)');
CREATE TRIGGER dashboard_tickets_truncated AFTER TRUNCATE ON tickets
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_rows_changed('tickets');

CREATE TRIGGER dashboard_emails_inserted AFTER INSERT ON emails
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION dashboard_rows_changed('emails', 'dashboard_email_figures(sent_at, failed_at)');
CREATE TRIGGER dashboard_emails_updated AFTER UPDATE ON emails
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION dashboard_rows_changed('emails', 'dashboard_email_figures(sent_at, failed_at)');
CREATE TRIGGER dashboard_emails_deleted AFTER DELETE ON emails
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION dashboard_rows_changed('emails', 'dashboard_email_figures(sent_at, failed_at)');
CREATE TRIGGER dashboard_emails_truncated AFTER TRUNCATE ON emails
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_rows_changed('emails');

-- Unpaid invoices: `deltas` is (due_date, currency, count, amount) rows to add.
CREATE FUNCTION dashboard_add_unpaid(deltas jsonb) RETURNS void
    LANGUAGE sql AS $$
    WITH summed AS (
        SELECT (d->>'due_date')::date AS due_date, (d->>'currency')::character(3) AS currency,
               sum((d->>'count')::bigint) AS count, sum((d->>'amount')::numeric) AS amount
          FROM jsonb_array_elements(deltas) AS d GROUP BY 1, 2
    ), added AS (
        INSERT INTO dashboard_unpaid AS u (due_date, currency, slot, count, amount)
        SELECT due_date, currency, dashboard_slot(), count, amount FROM summed
         WHERE count <> 0 OR amount <> 0 ORDER BY due_date, currency
        ON CONFLICT (due_date, currency, slot)
        DO UPDATE SET count = u.count + excluded.count, amount = u.amount + excluded.amount
        RETURNING due_date, currency, slot, count, amount
    )
    -- Emptied buckets go, so that the overdue sum reads only dates with unpaid invoices.
    DELETE FROM dashboard_unpaid u USING added a
     WHERE u.due_date = a.due_date AND u.currency = a.currency AND u.slot = a.slot
       AND a.count = 0 AND a.amount = 0
$$;

-- An invoice's currency is its client's. Invoices whose client is gone were taken off by
-- `dashboard_client_deleting` before the client went (a cascade deletes them after it).
CREATE FUNCTION dashboard_invoices_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    deltas jsonb;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM dashboard_unpaid;
        RETURN NULL;
    END IF;
    EXECUTE format(
        $q$SELECT jsonb_agg(jsonb_build_object('due_date', i.due_date, 'currency', c.currency,
                                               'count', i.n, 'amount', i.n * i.balance))
             FROM (%s) AS i JOIN clients c ON c.id = i.client_id$q$,
        concat_ws(' UNION ALL ',
            CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN
                 $s$SELECT client_id, due_date, balance, -1 AS n FROM old_rows
                     WHERE status = 'UNPAID'$s$ END,
            CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN
                 $s$SELECT client_id, due_date, balance, 1 AS n FROM new_rows
                     WHERE status = 'UNPAID'$s$ END))
    INTO deltas;
    PERFORM dashboard_add_unpaid(COALESCE(deltas, '[]'));
    RETURN NULL;
END $$;

CREATE TRIGGER dashboard_invoices_inserted AFTER INSERT ON invoices
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION dashboard_invoices_changed();
CREATE TRIGGER dashboard_invoices_updated AFTER UPDATE ON invoices
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION dashboard_invoices_changed();
CREATE TRIGGER dashboard_invoices_deleted AFTER DELETE ON invoices
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION dashboard_invoices_changed();
CREATE TRIGGER dashboard_invoices_truncated AFTER TRUNCATE ON invoices
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_invoices_changed();

-- A deleted client's unpaid invoices, while its currency can still be read.
CREATE FUNCTION dashboard_client_deleting() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dashboard_add_unpaid(COALESCE((
        SELECT jsonb_agg(jsonb_build_object('due_date', due_date, 'currency', OLD.currency,
                                            'count', -1, 'amount', -balance))
          FROM invoices WHERE client_id = OLD.id AND status = 'UNPAID'), '[]'));
    RETURN OLD;
END $$;

CREATE TRIGGER dashboard_client_deleting BEFORE DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION dashboard_client_deleting();

-- A relabelled client (SPEC 1.6) relabels its unpaid invoices.
CREATE FUNCTION dashboard_client_relabelled() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dashboard_add_unpaid(COALESCE((
        SELECT jsonb_agg(jsonb_build_object('due_date', i.due_date, 'currency', moved.currency,
                                            'count', moved.n, 'amount', moved.n * i.balance))
          FROM invoices i,
               LATERAL (VALUES (OLD.currency, -1), (NEW.currency, 1)) AS moved(currency, n)
         WHERE i.client_id = NEW.id AND i.status = 'UNPAID'), '[]'));
    RETURN NULL;
END $$;

CREATE TRIGGER dashboard_client_relabelled AFTER UPDATE OF currency ON clients
    FOR EACH ROW WHEN (OLD.currency IS DISTINCT FROM NEW.currency)
    EXECUTE FUNCTION dashboard_client_relabelled();

-- Income: payments per day (in the installation's time zone) and currency.
CREATE FUNCTION dashboard_transactions_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    zone text := dashboard_zone();
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM dashboard_income;
        RETURN NULL;
    END IF;
    EXECUTE format(
        $q$INSERT INTO dashboard_income AS d (day, currency, slot, amount)
           SELECT (date AT TIME ZONE $1)::date, currency, dashboard_slot(), sum(amount)
             FROM (%s) AS t GROUP BY 1, 2 HAVING sum(amount) <> 0 ORDER BY 1, 2
           ON CONFLICT (day, currency, slot) DO UPDATE SET amount = d.amount + excluded.amount$q$,
        concat_ws(' UNION ALL ',
            CASE WHEN TG_OP IN ('UPDATE', 'DELETE')
                 THEN 'SELECT date, currency, -amount AS amount FROM old_rows' END,
            CASE WHEN TG_OP IN ('INSERT', 'UPDATE')
                 THEN 'SELECT date, currency, amount FROM new_rows' END))
    USING zone;
    RETURN NULL;
END $$;

CREATE TRIGGER dashboard_transactions_inserted AFTER INSERT ON transactions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION dashboard_transactions_changed();
CREATE TRIGGER dashboard_transactions_updated AFTER UPDATE ON transactions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION dashboard_transactions_changed();
CREATE TRIGGER dashboard_transactions_deleted AFTER DELETE ON transactions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION dashboard_transactions_changed();
CREATE TRIGGER dashboard_transactions_truncated AFTER TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_transactions_changed();

-- Every figure from the rows themselves: the backfill, and a change of the time zone.
CREATE FUNCTION dashboard_rebuild_income() RETURNS void
    LANGUAGE sql AS $$
    DELETE FROM dashboard_income;
    INSERT INTO dashboard_income (day, currency, slot, amount)
    SELECT (date AT TIME ZONE dashboard_zone())::date, currency, 0, sum(amount)
      FROM transactions GROUP BY 1, 2;
$$;

CREATE FUNCTION dashboard_zone_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dashboard_rebuild_income();
    RETURN NULL;
END $$;

-- Any change of the automation settings' zone (a row-level WHEN would miss TRUNCATE).
CREATE TRIGGER dashboard_zone_updated AFTER UPDATE ON settings FOR EACH ROW
    WHEN (OLD.key = 'automation' AND NEW.key = 'automation'
          AND COALESCE(OLD.value->>'time_zone', 'UTC') <> COALESCE(NEW.value->>'time_zone', 'UTC'))
    EXECUTE FUNCTION dashboard_zone_changed();
CREATE TRIGGER dashboard_zone_inserted AFTER INSERT ON settings FOR EACH ROW
    WHEN (NEW.key = 'automation' AND COALESCE(NEW.value->>'time_zone', 'UTC') <> 'UTC')
    EXECUTE FUNCTION dashboard_zone_changed();
CREATE TRIGGER dashboard_zone_deleted AFTER DELETE ON settings FOR EACH ROW
    WHEN (OLD.key = 'automation' AND COALESCE(OLD.value->>'time_zone', 'UTC') <> 'UTC')
    EXECUTE FUNCTION dashboard_zone_changed();
CREATE TRIGGER dashboard_zone_truncated AFTER TRUNCATE ON settings
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_zone_changed();

INSERT INTO dashboard_counts (figure, slot, count)
SELECT figure, 0, count(*)
  FROM (SELECT unnest(dashboard_client_figures(status)) AS figure FROM clients
        UNION ALL SELECT unnest(dashboard_ticket_figures(status)) FROM tickets
        UNION ALL SELECT unnest(dashboard_email_figures(sent_at, failed_at)) FROM emails) AS f
 WHERE figure IS NOT NULL
 GROUP BY figure;

INSERT INTO dashboard_unpaid (due_date, currency, slot, count, amount)
SELECT i.due_date, c.currency, 0, count(*), sum(i.balance)
  FROM invoices i JOIN clients c ON c.id = i.client_id
 WHERE i.status = 'UNPAID'
 GROUP BY 1, 2;

SELECT dashboard_rebuild_income();
