-- migrate:up
-- The product catalogue (SPEC 14.1): staff sell products, in groups, priced per billing
-- cycle in each currency with a setup fee. A DOMAIN product is a TLD: `amount` is its
-- registration price, with transfer and renewal prices of their own; SERVICE and ADDON
-- products have none of those. An ADDON names the service product it is an addon of.
CREATE TABLE product_groups (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL CHECK (name <> ''),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id bigint REFERENCES product_groups (id) ON DELETE SET NULL,
    kind text NOT NULL CHECK (kind IN ('SERVICE', 'ADDON', 'DOMAIN')),
    name text NOT NULL CHECK (name <> ''),
    description text NOT NULL DEFAULT '',
    hidden boolean NOT NULL DEFAULT false,
    addon_of bigint REFERENCES products (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'ADDON') = (addon_of IS NOT NULL))
);
CREATE INDEX products_group_id ON products (group_id);

CREATE TABLE product_prices (
    product_id bigint NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    currency character(3) NOT NULL,
    cycle text NOT NULL CHECK (cycle IN ('MONTHLY', 'QUARTERLY', 'SEMI_ANNUALLY', 'ANNUALLY',
                                         'BIENNIALLY', 'TRIENNIALLY', 'ONE_TIME')),
    amount numeric(14, 2) NOT NULL CHECK (amount >= 0),
    setup_fee numeric(14, 2) NOT NULL DEFAULT 0 CHECK (setup_fee >= 0),
    transfer_amount numeric(14, 2) CHECK (transfer_amount >= 0),
    renew_amount numeric(14, 2) CHECK (renew_amount >= 0),
    PRIMARY KEY (product_id, currency, cycle)
);

-- What was ordered from the catalogue (null: a free-form staff order); a domain renews at
-- its `amount`, which is the product's renewal price when it came from the catalogue.
ALTER TABLE services ADD COLUMN product_id bigint REFERENCES products (id);
ALTER TABLE addons ADD COLUMN product_id bigint REFERENCES products (id);
ALTER TABLE domains ADD COLUMN product_id bigint REFERENCES products (id);
-- An addon may be of one of the client's services (a catalogue ADDON ordered for it), shown
-- with that service; the older, free-standing addons have none.
ALTER TABLE addons ADD COLUMN service_id bigint REFERENCES services (id) ON DELETE SET NULL;
CREATE INDEX addons_service_id ON addons (service_id) WHERE service_id IS NOT NULL;
-- SPEC 9.5, 14.2: only auto-renewing domains are invoiced for their renewal; the client
-- chooses (MANAGE_DOMAINS). Existing domains were all renewed until now: they stay so.
ALTER TABLE domains ADD COLUMN auto_renew boolean NOT NULL DEFAULT true;

-- A client's request to cancel a service (SPEC 14.2), carried out by the daily run: an
-- IMMEDIATE one on the next run, an END_OF_BILLING_PERIOD one on `due_date` (the service's
-- next due date when asked). One open request per service.
CREATE TABLE cancellation_requests (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service_id bigint NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    type text NOT NULL CHECK (type IN ('IMMEDIATE', 'END_OF_BILLING_PERIOD')),
    reason text NOT NULL CHECK (reason <> ''),
    status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DONE')),
    due_date date NOT NULL,
    requested_by bigint REFERENCES logins (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    carried_out_at timestamptz
);
CREATE UNIQUE INDEX cancellation_requests_open ON cancellation_requests (service_id)
    WHERE status = 'PENDING';
CREATE INDEX cancellation_requests_due ON cancellation_requests (due_date)
    WHERE status = 'PENDING';
