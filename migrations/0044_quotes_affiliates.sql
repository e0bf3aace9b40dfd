-- migrate:up
-- Quotes (SPEC 14.4): staff write one for a client (DRAFT), send it (SENT), and the client
-- area accepts it before `valid_until`, which turns it into an invoice (ACCEPTED). Expiry
-- is not stored: a quote past its date is shown EXPIRED, whatever the clock says now.
CREATE TABLE quotes (
    id bigserial PRIMARY KEY,
    client_id bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    status text NOT NULL DEFAULT 'DRAFT' CHECK (status IN ('DRAFT', 'SENT', 'ACCEPTED')),
    valid_until date NOT NULL,
    -- The client's currency when the quote was written; accepted only while it still is.
    currency character(3) NOT NULL,
    subtotal numeric(14, 2) NOT NULL CHECK (subtotal >= 0),
    invoice_id bigint REFERENCES invoices (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    accepted_at timestamptz,
    CHECK ((status = 'ACCEPTED') = (accepted_at IS NOT NULL))
);
CREATE INDEX quotes_client ON quotes (client_id, id);

CREATE TABLE quote_lines (
    id bigserial PRIMARY KEY,
    quote_id bigint NOT NULL REFERENCES quotes (id) ON DELETE CASCADE,
    description text NOT NULL,
    amount numeric(14, 2) NOT NULL CHECK (amount >= 0),
    -- A product of the catalogue (issue 22), which another branch brings: its foreign key
    -- is added with the products table.
    product_id bigint
);
CREATE INDEX quote_lines_quote ON quote_lines (quote_id, id);

-- Affiliates (SPEC 14.3): a client that activated its affiliate account has a referral
-- code; clients added with that code are its referrals, and each referral's invoice, once
-- PAID, earns it one commission in the invoice's currency (reversed when a payment of it is
-- refunded). Staff pay the balance (earned, not reversed, less paid out) as credit.
CREATE TABLE affiliates (
    id bigserial PRIMARY KEY,
    client_id bigint NOT NULL UNIQUE REFERENCES clients (id) ON DELETE CASCADE,
    referral_code text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE affiliate_referrals (
    client_id bigint PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
    affiliate_id bigint NOT NULL REFERENCES affiliates (id) ON DELETE CASCADE,
    referred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX affiliate_referrals_affiliate ON affiliate_referrals (affiliate_id, client_id);

CREATE TABLE affiliate_commissions (
    id bigserial PRIMARY KEY,
    affiliate_id bigint NOT NULL REFERENCES affiliates (id) ON DELETE CASCADE,
    -- One commission per invoice however often it becomes PAID; kept (with its number) when
    -- the referred client and its invoices are deleted.
    invoice_id bigint UNIQUE REFERENCES invoices (id) ON DELETE SET NULL,
    invoice_number bigint NOT NULL,
    amount numeric(14, 2) NOT NULL CHECK (amount > 0),
    currency character(3) NOT NULL,
    earned_at timestamptz NOT NULL DEFAULT now(),
    reversed_at timestamptz
);
CREATE INDEX affiliate_commissions_affiliate ON affiliate_commissions (affiliate_id, id);

CREATE TABLE affiliate_payouts (
    id bigserial PRIMARY KEY,
    affiliate_id bigint NOT NULL REFERENCES affiliates (id) ON DELETE CASCADE,
    amount numeric(14, 2) NOT NULL CHECK (amount > 0),
    currency character(3) NOT NULL,
    staff_id bigint REFERENCES staff (id) ON DELETE SET NULL,
    paid_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX affiliate_payouts_affiliate ON affiliate_payouts (affiliate_id, id);

