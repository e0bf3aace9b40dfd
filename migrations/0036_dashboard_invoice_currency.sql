-- migrate:up
-- Invoices keep their own currency now (0035, SPEC 13.4): the dashboard's unpaid buckets read
-- it from the invoice instead of its client's. So a relabelled or deleted client no longer
-- moves or removes anything itself: a deleted client's invoices go by the cascade, whose rows
-- carry their currency. The buckets are counted again from the invoices, which 0035 may have
-- given a currency other than their client's.
CREATE OR REPLACE FUNCTION dashboard_invoices_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    deltas jsonb;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM dashboard_unpaid;
        RETURN NULL;
    END IF;
    EXECUTE format(
        $q$SELECT jsonb_agg(jsonb_build_object('due_date', i.due_date, 'currency', i.currency,
                                               'count', i.n, 'amount', i.n * i.balance))
             FROM (%s) AS i$q$,
        concat_ws(' UNION ALL ',
            CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN
                 $s$SELECT currency, due_date, balance, -1 AS n FROM old_rows
                     WHERE status = 'UNPAID'$s$ END,
            CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN
                 $s$SELECT currency, due_date, balance, 1 AS n FROM new_rows
                     WHERE status = 'UNPAID'$s$ END))
    INTO deltas;
    PERFORM dashboard_add_unpaid(COALESCE(deltas, '[]'));
    RETURN NULL;
END $$;

DROP TRIGGER dashboard_client_deleting ON clients;
DROP FUNCTION dashboard_client_deleting();
DROP TRIGGER dashboard_client_relabelled ON clients;
DROP FUNCTION dashboard_client_relabelled();

DELETE FROM dashboard_unpaid;
INSERT INTO dashboard_unpaid (due_date, currency, slot, count, amount)
SELECT due_date, currency, 0, count(*), sum(balance)
  FROM invoices WHERE status = 'UNPAID' GROUP BY due_date, currency;
