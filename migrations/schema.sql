CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;

COMMENT ON EXTENSION citext IS 'data type for case-insensitive character strings';

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

COMMENT ON EXTENSION pg_trgm IS 'text similarity measurement and index searching based on trigrams';

CREATE TABLE public.audit_log (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    staff_id bigint,
    action text NOT NULL,
    client_id bigint,
    changes jsonb DEFAULT '{}'::jsonb NOT NULL
);

ALTER TABLE public.audit_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.audit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.cards (
    client_id bigint NOT NULL,
    card_type text NOT NULL,
    last_four character(4) NOT NULL,
    expiry character(5) NOT NULL,
    issue_number text,
    start_date character(5),
    key_version integer NOT NULL,
    nonce bytea NOT NULL,
    ciphertext bytea NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT cards_expiry_check CHECK ((expiry ~ '^(0[1-9]|1[0-2])/[0-9]{2}$'::text)),
    CONSTRAINT cards_issue_number_check CHECK ((issue_number ~ '^[0-9]{1,4}$'::text)),
    CONSTRAINT cards_key_version_check CHECK ((key_version > 0)),
    CONSTRAINT cards_last_four_check CHECK ((last_four ~ '^[0-9]{4}$'::text)),
    CONSTRAINT cards_nonce_check CHECK ((length(nonce) = 12)),
    CONSTRAINT cards_start_date_check CHECK ((start_date ~ '^(0[1-9]|1[0-2])/[0-9]{2}$'::text))
);

CREATE TABLE public.clients (
    id bigint NOT NULL,
    owner_login_id bigint NOT NULL,
    first_name text NOT NULL,
    last_name text NOT NULL,
    company_name text,
    email public.citext NOT NULL,
    phone_number text,
    address1 text,
    address2 text,
    city text,
    state text,
    postcode text,
    country character(2),
    language text,
    currency character(3) NOT NULL,
    notes text,
    status text DEFAULT 'ACTIVE'::text NOT NULL,
    overdue_notices_disabled boolean DEFAULT false NOT NULL,
    late_fees_exempt boolean DEFAULT false NOT NULL,
    tax_exempt boolean DEFAULT false NOT NULL,
    separate_invoices boolean DEFAULT false NOT NULL,
    cc_processing_disabled boolean DEFAULT false NOT NULL,
    default_payment_method text,
    credit_balance numeric(14,2) DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    search_text text GENERATED ALWAYS AS (lower(((((((first_name || ' '::text) || last_name) || ' '::text) || COALESCE(company_name, ''::text)) || ' '::text) || (email)::text))) STORED,
    billing_contact_id bigint,
    CONSTRAINT clients_country_check CHECK ((country ~ '^[A-Z]{2}$'::text)),
    CONSTRAINT clients_credit_balance_check CHECK ((credit_balance >= (0)::numeric)),
    CONSTRAINT clients_first_name_check CHECK ((first_name <> ''::text)),
    CONSTRAINT clients_last_name_check CHECK ((last_name <> ''::text)),
    CONSTRAINT clients_status_check CHECK ((status = ANY (ARRAY['ACTIVE'::text, 'INACTIVE'::text, 'CLOSED'::text])))
);

ALTER TABLE public.clients ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.clients_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.contacts (
    id bigint NOT NULL,
    client_id bigint NOT NULL,
    login_id bigint,
    first_name text NOT NULL,
    last_name text NOT NULL,
    company_name text,
    email public.citext NOT NULL,
    phone_number text,
    address1 text,
    address2 text,
    city text,
    state text,
    postcode text,
    country character(2),
    email_preferences text[] DEFAULT '{}'::text[] NOT NULL,
    permissions text[] DEFAULT '{}'::text[] NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT contacts_country_check CHECK ((country ~ '^[A-Z]{2}$'::text)),
    CONSTRAINT contacts_email_preferences_check CHECK ((email_preferences <@ ARRAY['GENERAL'::text, 'INVOICE'::text, 'SUPPORT'::text, 'PRODUCT'::text, 'DOMAIN'::text, 'AFFILIATE'::text])),
    CONSTRAINT contacts_first_name_check CHECK ((first_name <> ''::text)),
    CONSTRAINT contacts_last_name_check CHECK ((last_name <> ''::text)),
    CONSTRAINT contacts_permissions_check CHECK ((permissions <@ ARRAY['PROFILE'::text, 'CONTACTS'::text, 'PRODUCTS'::text, 'MANAGE_PRODUCTS'::text, 'DOMAINS'::text, 'MANAGE_DOMAINS'::text, 'INVOICES'::text, 'QUOTES'::text, 'TICKETS'::text, 'AFFILIATES'::text, 'EMAILS'::text, 'ORDERS'::text]))
);

ALTER TABLE public.contacts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.contacts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.currencies (
    code character(3) NOT NULL,
    prefix text DEFAULT ''::text NOT NULL,
    suffix text DEFAULT ''::text NOT NULL,
    is_default boolean DEFAULT false NOT NULL,
    CONSTRAINT currencies_code_check CHECK ((code ~ '^[A-Z]{3}$'::text))
);

CREATE TABLE public.emails (
    id bigint NOT NULL,
    client_id bigint,
    template text NOT NULL,
    category text NOT NULL,
    to_address text NOT NULL,
    to_name text,
    context jsonb DEFAULT '{}'::jsonb NOT NULL,
    message_id text DEFAULT (('<'::text || replace((gen_random_uuid())::text, '-'::text, ''::text)) || '@clientdesk>'::text) NOT NULL,
    subject text,
    body text,
    attempts integer DEFAULT 0 NOT NULL,
    last_error text,
    created_xid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    sent_at timestamp with time zone,
    contact_id bigint,
    CONSTRAINT emails_category_check CHECK ((category = ANY (ARRAY['GENERAL'::text, 'INVOICE'::text, 'SUPPORT'::text, 'PRODUCT'::text, 'DOMAIN'::text, 'AFFILIATE'::text, 'ACCOUNT'::text])))
);

ALTER TABLE public.emails ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.emails_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.logins (
    id bigint NOT NULL,
    email public.citext NOT NULL,
    password_hash text,
    totp_secret text,
    last_login_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE public.logins ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.logins_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.payment_gateways (
    name text NOT NULL,
    display_name text NOT NULL,
    kind text NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    CONSTRAINT payment_gateways_kind_check CHECK ((kind = ANY (ARRAY['MERCHANT'::text, 'MANUAL'::text])))
);

CREATE TABLE public.schema_migrations (
    version text NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.sessions (
    id bigint NOT NULL,
    token_hash bytea NOT NULL,
    login_id bigint NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    ip_address text,
    user_agent text
);

ALTER TABLE public.sessions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.sessions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.settings (
    key text NOT NULL,
    value jsonb NOT NULL
);

CREATE TABLE public.staff (
    id bigint NOT NULL,
    login_id bigint NOT NULL,
    first_name text NOT NULL,
    last_name text NOT NULL,
    role text NOT NULL,
    active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT staff_role_check CHECK ((role = ANY (ARRAY['ADMIN'::text, 'BILLING'::text, 'SUPPORT'::text, 'READ_ONLY'::text])))
);

ALTER TABLE public.staff ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.staff_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cards
    ADD CONSTRAINT cards_pkey PRIMARY KEY (client_id);

ALTER TABLE ONLY public.clients
    ADD CONSTRAINT clients_email_key UNIQUE (email);

ALTER TABLE ONLY public.clients
    ADD CONSTRAINT clients_owner_login_id_key UNIQUE (owner_login_id);

ALTER TABLE ONLY public.clients
    ADD CONSTRAINT clients_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.contacts
    ADD CONSTRAINT contacts_id_client_id_key UNIQUE (id, client_id);

ALTER TABLE ONLY public.contacts
    ADD CONSTRAINT contacts_login_id_key UNIQUE (login_id);

ALTER TABLE ONLY public.contacts
    ADD CONSTRAINT contacts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.currencies
    ADD CONSTRAINT currencies_pkey PRIMARY KEY (code);

ALTER TABLE ONLY public.emails
    ADD CONSTRAINT emails_message_id_key UNIQUE (message_id);

ALTER TABLE ONLY public.emails
    ADD CONSTRAINT emails_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.logins
    ADD CONSTRAINT logins_email_key UNIQUE (email);

ALTER TABLE ONLY public.logins
    ADD CONSTRAINT logins_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.payment_gateways
    ADD CONSTRAINT payment_gateways_pkey PRIMARY KEY (name);

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_token_hash_key UNIQUE (token_hash);

ALTER TABLE ONLY public.settings
    ADD CONSTRAINT settings_pkey PRIMARY KEY (key);

ALTER TABLE ONLY public.staff
    ADD CONSTRAINT staff_login_id_key UNIQUE (login_id);

ALTER TABLE ONLY public.staff
    ADD CONSTRAINT staff_pkey PRIMARY KEY (id);

CREATE INDEX audit_log_client ON public.audit_log USING btree (client_id, id DESC);

CREATE INDEX cards_key_version ON public.cards USING btree (key_version);

CREATE INDEX clients_order_company ON public.clients USING btree (lower(COALESCE(company_name, ''::text)), id);

CREATE INDEX clients_order_created_at ON public.clients USING btree (created_at, id);

CREATE INDEX clients_order_email ON public.clients USING btree (lower((email)::text), id);

CREATE INDEX clients_order_name ON public.clients USING btree (lower(((last_name || ', '::text) || first_name)), id);

CREATE INDEX clients_search_text ON public.clients USING gin (search_text public.gin_trgm_ops);

CREATE INDEX clients_status ON public.clients USING btree (status, id);

CREATE INDEX contacts_client_id ON public.contacts USING btree (client_id, id);

CREATE UNIQUE INDEX currencies_one_default ON public.currencies USING btree (is_default) WHERE is_default;

CREATE INDEX emails_client_sent ON public.emails USING btree (client_id, sent_at DESC) WHERE (sent_at IS NOT NULL);

CREATE INDEX emails_created_xid ON public.emails USING btree (created_xid) WHERE (sent_at IS NULL);

CREATE INDEX emails_unsent ON public.emails USING btree (created_at) WHERE (sent_at IS NULL);

CREATE INDEX sessions_expires_at ON public.sessions USING btree (expires_at);

CREATE INDEX sessions_login_id ON public.sessions USING btree (login_id);

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_staff_id_fkey FOREIGN KEY (staff_id) REFERENCES public.staff(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.cards
    ADD CONSTRAINT cards_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.clients
    ADD CONSTRAINT clients_billing_contact_fkey FOREIGN KEY (billing_contact_id, id) REFERENCES public.contacts(id, client_id) ON DELETE SET NULL (billing_contact_id);

ALTER TABLE ONLY public.clients
    ADD CONSTRAINT clients_currency_fkey FOREIGN KEY (currency) REFERENCES public.currencies(code);

ALTER TABLE ONLY public.clients
    ADD CONSTRAINT clients_default_payment_method_fkey FOREIGN KEY (default_payment_method) REFERENCES public.payment_gateways(name);

ALTER TABLE ONLY public.clients
    ADD CONSTRAINT clients_owner_login_id_fkey FOREIGN KEY (owner_login_id) REFERENCES public.logins(id);

ALTER TABLE ONLY public.contacts
    ADD CONSTRAINT contacts_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.contacts
    ADD CONSTRAINT contacts_login_id_fkey FOREIGN KEY (login_id) REFERENCES public.logins(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.emails
    ADD CONSTRAINT emails_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.emails
    ADD CONSTRAINT emails_contact_id_fkey FOREIGN KEY (contact_id) REFERENCES public.contacts(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_login_id_fkey FOREIGN KEY (login_id) REFERENCES public.logins(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.staff
    ADD CONSTRAINT staff_login_id_fkey FOREIGN KEY (login_id) REFERENCES public.logins(id) ON DELETE CASCADE;
