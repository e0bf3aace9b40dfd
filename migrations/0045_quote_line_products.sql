-- migrate:up
-- A quote line may name a catalogue product (issue 22): accepting the quote then orders it,
-- at the quote's price, billed each `billing_cycle` (set on product lines only). A line
-- outlives its product: the product gone, the line keeps its text and price and orders
-- nothing.
UPDATE quote_lines SET product_id = NULL
 WHERE product_id IS NOT NULL AND product_id NOT IN (SELECT id FROM products);
ALTER TABLE quote_lines
    ADD CONSTRAINT quote_lines_product_id_fkey
        FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE SET NULL,
    ADD COLUMN billing_cycle text CHECK (billing_cycle IN ('MONTHLY', 'QUARTERLY',
        'SEMI_ANNUALLY', 'ANNUALLY', 'BIENNIALLY', 'TRIENNIALLY', 'ONE_TIME'));
-- Deleting a product finds its quote lines by this index.
CREATE INDEX quote_lines_product ON quote_lines (product_id) WHERE product_id IS NOT NULL;
-- Lines written before naming a product are billed monthly, as an order item without a cycle.
UPDATE quote_lines SET billing_cycle = 'MONTHLY' WHERE product_id IS NOT NULL;

-- An addon is cancelled on its own (SPEC 14.2): a request names a service or an addon (their
-- ids are unique across both, as the API's Service ids are), one open request each.
ALTER TABLE cancellation_requests
    ALTER COLUMN service_id DROP NOT NULL,
    ADD COLUMN addon_id bigint REFERENCES addons (id) ON DELETE CASCADE,
    ADD CONSTRAINT cancellation_requests_one_item CHECK (num_nonnulls(service_id, addon_id) = 1);
CREATE UNIQUE INDEX cancellation_requests_open_addon ON cancellation_requests (addon_id)
    WHERE status = 'PENDING';
CREATE INDEX cancellation_requests_addon ON cancellation_requests (addon_id)
    WHERE addon_id IS NOT NULL;
