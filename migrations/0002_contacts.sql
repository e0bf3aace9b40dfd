-- migrate:up
-- Contacts of a client (SPEC 2): some are sub-accounts with a login of their own and the
-- client-area permissions the account holder granted; one may be the billing contact.

CREATE TABLE contacts (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id          bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    -- Set for sub-accounts only; the login is theirs alone.
    login_id           bigint UNIQUE REFERENCES logins (id) ON DELETE SET NULL,
    first_name         text NOT NULL CHECK (first_name <> ''),
    last_name          text NOT NULL CHECK (last_name <> ''),
    company_name       text,
    email              citext NOT NULL,
    phone_number       text,
    address1           text,
    address2           text,
    city               text,
    state              text,
    postcode           text,
    country            char(2) CHECK (country ~ '^[A-Z]{2}$'),
    email_preferences  text[] NOT NULL DEFAULT '{}' CHECK (email_preferences <@ ARRAY[
                           'GENERAL', 'INVOICE', 'SUPPORT', 'PRODUCT', 'DOMAIN', 'AFFILIATE'
                       ]::text[]),
    permissions        text[] NOT NULL DEFAULT '{}' CHECK (permissions <@ ARRAY[
                           'PROFILE', 'CONTACTS', 'PRODUCTS', 'MANAGE_PRODUCTS', 'DOMAINS',
                           'MANAGE_DOMAINS', 'INVOICES', 'QUOTES', 'TICKETS', 'AFFILIATES',
                           'EMAILS', 'ORDERS'
                       ]::text[]),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- Lets the billing contact reference (contact, client) so it can only be the client's own.
    UNIQUE (id, client_id)
);
CREATE INDEX contacts_client_id ON contacts (client_id, id);

ALTER TABLE clients
    ADD COLUMN billing_contact_id bigint,
    ADD CONSTRAINT clients_billing_contact_fkey FOREIGN KEY (billing_contact_id, id)
        REFERENCES contacts (id, client_id) ON DELETE SET NULL (billing_contact_id);

-- Copies of a client email sent to a contact (SPEC 8.3) name that contact.
ALTER TABLE emails
    ADD COLUMN contact_id bigint REFERENCES contacts (id) ON DELETE SET NULL;

-- Every row gets its stable Message-ID from the database, also rows inserted set-wise.
ALTER TABLE emails
    ALTER COLUMN message_id SET DEFAULT '<' || replace(gen_random_uuid()::text, '-', '')
                                         || '@clientdesk>';
