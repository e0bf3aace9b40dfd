-- migrate:up
-- Stripe, a merchant gateway that keeps the card itself (SPEC 4.5, 13.1). It starts off: it
-- can be turned on only where STRIPE_SECRET_KEY is set, which loads its plug-in.
INSERT INTO payment_gateways (name, display_name, kind, enabled)
VALUES ('stripe', 'Stripe', 'MERCHANT', false);

-- A card kept by a tokenising gateway is stored as that gateway's customer and payment method
-- ids; we never hold its number (SPEC 4.5). Such a row has no ciphertext; a card we encrypt
-- has no gateway reference. What staff see (type, last four, expiry) is kept either way.
ALTER TABLE cards
    ADD COLUMN gateway text REFERENCES payment_gateways (name),
    ADD COLUMN gateway_customer text,
    ADD COLUMN gateway_payment_method text,
    ALTER COLUMN key_version DROP NOT NULL,
    ALTER COLUMN nonce DROP NOT NULL,
    ALTER COLUMN ciphertext DROP NOT NULL,
    ADD CONSTRAINT cards_number_or_gateway CHECK (
        CASE WHEN gateway IS NULL
             THEN key_version IS NOT NULL AND nonce IS NOT NULL AND ciphertext IS NOT NULL
                  AND gateway_customer IS NULL AND gateway_payment_method IS NULL
             ELSE key_version IS NULL AND nonce IS NULL AND ciphertext IS NULL
                  AND gateway_customer IS NOT NULL AND gateway_payment_method IS NOT NULL END);

-- The gateway's customer of each client, kept when its card is cleared or replaced: a new
-- card is added to the same customer rather than to a new one each time.
CREATE TABLE gateway_customers (
    client_id  bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    gateway    text NOT NULL REFERENCES payment_gateways (name),
    customer   text NOT NULL,
    PRIMARY KEY (client_id, gateway)
);

-- Webhook events a gateway sent, by its event id: a replayed event is recognised and changes
-- nothing (Stripe sends an event again until it is answered 2xx, and may send it twice).
CREATE TABLE gateway_events (
    gateway      text NOT NULL REFERENCES payment_gateways (name),
    event_id     text NOT NULL,
    type         text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gateway, event_id)
);
