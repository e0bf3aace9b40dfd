-- migrate:up
-- An invoice keeps the currency it was made in (SPEC 13.4), as orders and transactions do:
-- reading it from the client showed old invoices in a currency they were never billed in.
-- Existing invoices take their order's currency, else the client's (which they were shown in).
ALTER TABLE invoices ADD COLUMN currency char(3) REFERENCES currencies (code);
UPDATE invoices i
   SET currency = coalesce((SELECT o.currency FROM orders o WHERE o.invoice_id = i.id),
                           c.currency)
  FROM clients c
 WHERE c.id = i.client_id;
ALTER TABLE invoices ALTER COLUMN currency SET NOT NULL;

-- The test gateway approves any valid card number: an installation that left it on could
-- record fake card payments as real (SPEC 13.1). It starts off; `clientdesk dev` and the test
-- suite turn it on, and the worker never loads it with ENVIRONMENT=production.
UPDATE payment_gateways SET enabled = false WHERE name = 'testcard';
