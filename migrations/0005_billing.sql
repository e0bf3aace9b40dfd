-- migrate:up
-- Billing (SPEC 1.5, 1.6, 1.9, 3.4, 3.5, 9.5): catalogue-free orders of services, addons and
-- domains, invoices with their items, payments (transactions) and tax rules.

-- How far one billing period reaches; NULL for one-time items, which are invoiced once.
CREATE FUNCTION billing_cycle_interval(cycle text) RETURNS interval
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE cycle
        WHEN 'MONTHLY' THEN interval '1 month'
        WHEN 'QUARTERLY' THEN interval '3 months'
        WHEN 'SEMI_ANNUALLY' THEN interval '6 months'
        WHEN 'ANNUALLY' THEN interval '1 year'
        WHEN 'BIENNIALLY' THEN interval '2 years'
        WHEN 'TRIENNIALLY' THEN interval '3 years'
    END;

CREATE TABLE orders (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id       bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    -- The currency the order was placed in: the first one fixes the client's (SPEC 1.6).
    currency        char(3) NOT NULL REFERENCES currencies (code),
    payment_method  text REFERENCES payment_gateways (name),
    status          text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'ACCEPTED')),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_client ON orders (client_id, id);

-- Services, addons and domains draw their ids from one sequence, so that an id names one item
-- whatever its kind (setServiceStatus takes services and addons alike).
CREATE SEQUENCE billable_item_ids;

CREATE TABLE services (
    id              bigint PRIMARY KEY DEFAULT nextval('billable_item_ids'),
    client_id       bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    order_id        bigint REFERENCES orders (id) ON DELETE SET NULL,
    name            text NOT NULL CHECK (name <> ''),
    amount          numeric(14, 2) NOT NULL CHECK (amount >= 0),
    billing_cycle   text NOT NULL CHECK (billing_cycle IN ('MONTHLY', 'QUARTERLY',
                        'SEMI_ANNUALLY', 'ANNUALLY', 'BIENNIALLY', 'TRIENNIALLY', 'ONE_TIME')),
    status          text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'ACTIVE',
                        'SUSPENDED', 'TERMINATED', 'CANCELLED', 'FRAUD', 'COMPLETED')),
    payment_method  text REFERENCES payment_gateways (name),
    -- The start of the next period not yet invoiced; NULL once a one-time item is invoiced.
    next_due_date   date,
    created_at      timestamptz NOT NULL DEFAULT now()
);
-- Owned by services.id, so that truncating services (with RESTART IDENTITY) restarts it.
ALTER SEQUENCE billable_item_ids OWNED BY services.id;
CREATE INDEX services_client ON services (client_id, id);
CREATE INDEX services_order ON services (order_id);
-- Invoice generation looks up what is billable and due by date.
CREATE INDEX services_due ON services (next_due_date) WHERE status IN ('ACTIVE', 'SUSPENDED');

CREATE TABLE addons (
    id              bigint PRIMARY KEY DEFAULT nextval('billable_item_ids'),
    client_id       bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    order_id        bigint REFERENCES orders (id) ON DELETE SET NULL,
    name            text NOT NULL CHECK (name <> ''),
    amount          numeric(14, 2) NOT NULL CHECK (amount >= 0),
    billing_cycle   text NOT NULL CHECK (billing_cycle IN ('MONTHLY', 'QUARTERLY',
                        'SEMI_ANNUALLY', 'ANNUALLY', 'BIENNIALLY', 'TRIENNIALLY', 'ONE_TIME')),
    status          text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'ACTIVE',
                        'SUSPENDED', 'TERMINATED', 'CANCELLED', 'FRAUD', 'COMPLETED')),
    payment_method  text REFERENCES payment_gateways (name),
    next_due_date   date,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX addons_client ON addons (client_id, id);
CREATE INDEX addons_order ON addons (order_id);
CREATE INDEX addons_due ON addons (next_due_date) WHERE status IN ('ACTIVE', 'SUSPENDED');

CREATE TABLE domains (
    id              bigint PRIMARY KEY DEFAULT nextval('billable_item_ids'),
    client_id       bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    order_id        bigint REFERENCES orders (id) ON DELETE SET NULL,
    name            text NOT NULL CHECK (name <> ''),
    amount          numeric(14, 2) NOT NULL CHECK (amount >= 0),
    billing_cycle   text NOT NULL CHECK (billing_cycle IN ('MONTHLY', 'QUARTERLY',
                        'SEMI_ANNUALLY', 'ANNUALLY', 'BIENNIALLY', 'TRIENNIALLY', 'ONE_TIME')),
    status          text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING',
                        'PENDING_REGISTRATION', 'PENDING_TRANSFER', 'ACTIVE', 'GRACE',
                        'REDEMPTION', 'EXPIRED', 'TRANSFERRED_AWAY', 'CANCELLED', 'FRAUD')),
    payment_method  text REFERENCES payment_gateways (name),
    next_due_date   date,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX domains_client ON domains (client_id, id);
CREATE INDEX domains_order ON domains (order_id);
CREATE INDEX domains_due ON domains (next_due_date) WHERE status = 'ACTIVE';

-- Invoice numbers are their own sequence: ids are internal, numbers are what people quote.
CREATE SEQUENCE invoice_numbers;

CREATE TABLE invoices (
    id              bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    client_id       bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    number          bigint NOT NULL UNIQUE DEFAULT nextval('invoice_numbers'),
    status          text NOT NULL DEFAULT 'UNPAID'
                    CHECK (status IN ('UNPAID', 'PAID', 'CANCELLED', 'REFUNDED')),
    issue_date      date NOT NULL DEFAULT current_date,
    due_date        date NOT NULL,
    payment_method  text REFERENCES payment_gateways (name),
    -- Who the invoice is addressed to when it is made: the default billing contact, else the
    -- client (SPEC 2.5). Kept as issued, like the amounts.
    billed_to       jsonb NOT NULL,
    subtotal        numeric(14, 2) NOT NULL DEFAULT 0,
    tax_rate        numeric(5, 2) NOT NULL DEFAULT 0 CHECK (tax_rate >= 0),
    tax             numeric(14, 2) NOT NULL DEFAULT 0 CHECK (tax >= 0),
    total           numeric(14, 2) GENERATED ALWAYS AS (subtotal + tax) STORED,
    -- Client credit applied to it (SPEC 3.5) and the part of payments that went to it.
    credit          numeric(14, 2) NOT NULL DEFAULT 0 CHECK (credit >= 0),
    amount_paid     numeric(14, 2) NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
    balance         numeric(14, 2) GENERATED ALWAYS AS (subtotal + tax - credit - amount_paid)
                    STORED CHECK (balance >= 0),
    paid_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE invoice_numbers OWNED BY invoices.number;
CREATE INDEX invoices_client ON invoices (client_id, id);
-- Automatic capture looks for unpaid invoices by due date.
CREATE INDEX invoices_unpaid_due ON invoices (due_date) WHERE status = 'UNPAID';

CREATE TABLE invoice_items (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id   bigint NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    -- The billed service, addon or domain and the period start; NULL for free-form lines.
    item_kind    text CHECK (item_kind IN ('SERVICE', 'ADDON', 'DOMAIN')),
    item_id      bigint,
    period_start date,
    description  text NOT NULL CHECK (description <> ''),
    amount       numeric(14, 2) NOT NULL,
    taxed        boolean NOT NULL DEFAULT true
);
-- The invoice an order was billed on.
ALTER TABLE orders ADD COLUMN invoice_id bigint REFERENCES invoices (id) ON DELETE SET NULL;
CREATE INDEX orders_invoice ON orders (invoice_id);

CREATE INDEX invoice_items_invoice ON invoice_items (invoice_id, id);
-- A period of an item is invoiced once, even if two generation runs overlap.
CREATE UNIQUE INDEX invoice_items_period ON invoice_items (item_kind, item_id, period_start)
    WHERE item_id IS NOT NULL;

-- Income records: they outlive the client (SPEC 7.2), so client_id is kept without a foreign key.
CREATE TABLE transactions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id       bigint NOT NULL,
    invoice_id      bigint REFERENCES invoices (id) ON DELETE SET NULL,
    date            timestamptz NOT NULL DEFAULT now(),
    gateway         text NOT NULL REFERENCES payment_gateways (name),
    transaction_id  text,
    amount          numeric(14, 2) NOT NULL CHECK (amount > 0),
    fees            numeric(14, 2) NOT NULL DEFAULT 0 CHECK (fees >= 0),
    currency        char(3) NOT NULL REFERENCES currencies (code)
);
CREATE INDEX transactions_client ON transactions (client_id, id);
CREATE INDEX transactions_invoice ON transactions (invoice_id);
-- One gateway transaction is recorded once.
CREATE UNIQUE INDEX transactions_gateway_id ON transactions (gateway, transaction_id)
    WHERE transaction_id IS NOT NULL;

-- Tax per country, optionally per state (an empty state: the whole country).
CREATE TABLE tax_rules (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    country  char(2) NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    state    text NOT NULL DEFAULT '',
    name     text NOT NULL CHECK (name <> ''),
    rate     numeric(5, 2) NOT NULL CHECK (rate > 0 AND rate <= 100),
    UNIQUE (country, state)
);

-- Credit applied to an invoice and overpayments name the invoice (SPEC 3.4, 3.5).
ALTER TABLE credit_log
    ADD CONSTRAINT credit_log_invoice_fkey FOREIGN KEY (invoice_id)
        REFERENCES invoices (id) ON DELETE SET NULL;
CREATE INDEX credit_log_invoice ON credit_log (invoice_id) WHERE invoice_id IS NOT NULL;

-- The staff member's service status filter (SPEC 1.9) lives as long as the login session.
ALTER TABLE sessions ADD COLUMN service_status_filter text[];
