CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;

COMMENT ON EXTENSION citext IS 'data type for case-insensitive character strings';

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

COMMENT ON EXTENSION pg_trgm IS 'text similarity measurement and index searching based on trigrams';

CREATE FUNCTION public.billing_cycle_interval(cycle text) RETURNS interval
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE cycle WHEN 'MONTHLY'::text THEN '1 mon'::interval WHEN 'QUARTERLY'::text THEN '3 mons'::interval WHEN 'SEMI_ANNUALLY'::text THEN '6 mons'::interval WHEN 'ANNUALLY'::text THEN '1 year'::interval WHEN 'BIENNIALLY'::text THEN '2 years'::interval WHEN 'TRIENNIALLY'::text THEN '3 years'::interval ELSE NULL::interval END;

CREATE FUNCTION public.dashboard_add_counts(deltas jsonb) RETURNS void
    LANGUAGE sql
    AS $$
    INSERT INTO dashboard_counts AS d (figure, slot, count)
    SELECT key, dashboard_slot(), value::bigint
      FROM jsonb_each_text(deltas) WHERE value::bigint <> 0 ORDER BY key
    ON CONFLICT (figure, slot) DO UPDATE SET count = d.count + excluded.count
$$;

CREATE FUNCTION public.dashboard_add_unpaid(deltas jsonb) RETURNS void
    LANGUAGE sql
    AS $$
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

CREATE FUNCTION public.dashboard_client_figures(status text) RETURNS text[]
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT ARRAY['clients.' || status] $$;

CREATE FUNCTION public.dashboard_email_figures(sent_at timestamp with time zone, failed_at timestamp with time zone) RETURNS text[]
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT array_remove(ARRAY[CASE WHEN failed_at IS NOT NULL THEN 'emails.failed'
                                   WHEN sent_at IS NULL THEN 'emails.queued' END], NULL)
$$;

CREATE FUNCTION public.dashboard_invoices_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $_$
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
END $_$;

CREATE FUNCTION public.dashboard_rebuild_income() RETURNS void
    LANGUAGE sql
    AS $$
    DELETE FROM dashboard_income;
    INSERT INTO dashboard_income (day, currency, slot, amount)
    SELECT (date AT TIME ZONE dashboard_zone())::date, currency, 0, sum(amount)
      FROM transactions GROUP BY 1, 2;
$$;

CREATE FUNCTION public.dashboard_rows_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $_$
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
END $_$;

CREATE FUNCTION public.dashboard_slot() RETURNS smallint
    LANGUAGE sql STABLE
    AS $$ SELECT (pg_backend_pid() % 8)::smallint $$;

CREATE FUNCTION public.dashboard_ticket_figures(status text) RETURNS text[]
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT array_remove(ARRAY[
        CASE WHEN status <> 'CLOSED' THEN 'tickets.open' END,
        -- OPEN: no staff reply yet; CUSTOMER_REPLY: the client wrote after one.
        CASE WHEN status IN ('OPEN', 'CUSTOMER_REPLY') THEN 'tickets.awaiting_reply' END
    ], NULL)
$$;

CREATE FUNCTION public.dashboard_transactions_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $_$
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
END $_$;

CREATE FUNCTION public.dashboard_zone() RETURNS text
    LANGUAGE sql STABLE
    AS $$
    SELECT COALESCE((SELECT value->>'time_zone' FROM settings WHERE key = 'automation'), 'UTC')
$$;

CREATE FUNCTION public.dashboard_zone_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM dashboard_rebuild_income();
    RETURN NULL;
END $$;

CREATE FUNCTION public.notify_access_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    -- The row as JSON: one function for tables of different columns.
    affected text := CASE
        WHEN TG_LEVEL = 'STATEMENT' THEN '*'
        WHEN TG_TABLE_NAME = 'api_keys' THEN
            (SELECT s.login_id::text FROM staff s WHERE s.id = (to_jsonb(OLD)->>'staff_id')::bigint)
        ELSE to_jsonb(OLD)->>'login_id'
    END;
BEGIN
    PERFORM pg_notify('clientdesk_access', COALESCE(affected, '*'));
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.notify_reference_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('clientdesk_reference', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.planner_row_estimate(query text) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
    RETURN round((plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric);
END;
$$;

CREATE FUNCTION public.record_events() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    source text;
    kind text;
    first_id bigint;
    last_id bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        source := 'new_rows n';
        kind := 'CREATED';
    ELSIF TG_OP = 'UPDATE' THEN
        source := 'new_rows n JOIN old_rows o ON o.id = n.id WHERE o IS DISTINCT FROM n';
        kind := 'UPDATED';
    ELSE
        source := 'old_rows n';
        kind := 'DELETED';
    END IF;
    EXECUTE format(
        'WITH recorded AS (
             INSERT INTO events (topic, kind, object_id, client_id, staff_only)
             SELECT %L, %L, %s, %s, %s FROM %s ORDER BY 3
             RETURNING id)
         SELECT min(id), max(id) FROM recorded',
        TG_ARGV[0], COALESCE(TG_ARGV[3], kind), TG_ARGV[1], TG_ARGV[2],
        COALESCE(TG_ARGV[4], 'false'), source)
        INTO first_id, last_id;
    IF first_id IS NOT NULL THEN
        PERFORM pg_notify('clientdesk_events',
                          format('%s %s %s', pg_current_xact_id(), first_id, last_id));
    END IF;
    RETURN NULL;
END;
$$;

CREATE TABLE public.services (
    id bigint NOT NULL,
    client_id bigint NOT NULL,
    order_id bigint,
    name text NOT NULL,
    amount numeric(14,2) NOT NULL,
    billing_cycle text NOT NULL,
    status text DEFAULT 'PENDING'::text NOT NULL,
    payment_method text,
    next_due_date date,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    product_id bigint,
    CONSTRAINT services_amount_check CHECK ((amount >= (0)::numeric)),
    CONSTRAINT services_billing_cycle_check CHECK ((billing_cycle = ANY (ARRAY['MONTHLY'::text, 'QUARTERLY'::text, 'SEMI_ANNUALLY'::text, 'ANNUALLY'::text, 'BIENNIALLY'::text, 'TRIENNIALLY'::text, 'ONE_TIME'::text]))),
    CONSTRAINT services_name_check CHECK ((name <> ''::text)),
    CONSTRAINT services_status_check CHECK ((status = ANY (ARRAY['PENDING'::text, 'ACTIVE'::text, 'SUSPENDED'::text, 'TERMINATED'::text, 'CANCELLED'::text, 'FRAUD'::text, 'COMPLETED'::text])))
);

CREATE SEQUENCE public.billable_item_ids
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.billable_item_ids OWNED BY public.services.id;

CREATE TABLE public.addons (
    id bigint DEFAULT nextval('public.billable_item_ids'::regclass) NOT NULL,
    client_id bigint NOT NULL,
    order_id bigint,
    name text NOT NULL,
    amount numeric(14,2) NOT NULL,
    billing_cycle text NOT NULL,
    status text DEFAULT 'PENDING'::text NOT NULL,
    payment_method text,
    next_due_date date,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    product_id bigint,
    service_id bigint,
    CONSTRAINT addons_amount_check CHECK ((amount >= (0)::numeric)),
    CONSTRAINT addons_billing_cycle_check CHECK ((billing_cycle = ANY (ARRAY['MONTHLY'::text, 'QUARTERLY'::text, 'SEMI_ANNUALLY'::text, 'ANNUALLY'::text, 'BIENNIALLY'::text, 'TRIENNIALLY'::text, 'ONE_TIME'::text]))),
    CONSTRAINT addons_name_check CHECK ((name <> ''::text)),
    CONSTRAINT addons_status_check CHECK ((status = ANY (ARRAY['PENDING'::text, 'ACTIVE'::text, 'SUSPENDED'::text, 'TERMINATED'::text, 'CANCELLED'::text, 'FRAUD'::text, 'COMPLETED'::text])))
);

CREATE TABLE public.affiliate_commissions (
    id bigint NOT NULL,
    affiliate_id bigint NOT NULL,
    invoice_id bigint,
    invoice_number bigint NOT NULL,
    amount numeric(14,2) NOT NULL,
    currency character(3) NOT NULL,
    earned_at timestamp with time zone DEFAULT now() NOT NULL,
    reversed_at timestamp with time zone,
    CONSTRAINT affiliate_commissions_amount_check CHECK ((amount > (0)::numeric))
);

CREATE SEQUENCE public.affiliate_commissions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.affiliate_commissions_id_seq OWNED BY public.affiliate_commissions.id;

CREATE TABLE public.affiliate_payouts (
    id bigint NOT NULL,
    affiliate_id bigint NOT NULL,
    amount numeric(14,2) NOT NULL,
    currency character(3) NOT NULL,
    staff_id bigint,
    paid_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT affiliate_payouts_amount_check CHECK ((amount > (0)::numeric))
);

CREATE SEQUENCE public.affiliate_payouts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.affiliate_payouts_id_seq OWNED BY public.affiliate_payouts.id;

CREATE TABLE public.affiliate_referrals (
    client_id bigint NOT NULL,
    affiliate_id bigint NOT NULL,
    referred_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.affiliates (
    id bigint NOT NULL,
    client_id bigint NOT NULL,
    referral_code text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE SEQUENCE public.affiliates_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.affiliates_id_seq OWNED BY public.affiliates.id;

CREATE TABLE public.api_keys (
    id bigint NOT NULL,
    name text NOT NULL,
    prefix text NOT NULL,
    secret_hash bytea NOT NULL,
    staff_id bigint NOT NULL,
    role_id bigint NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone,
    last_used_at timestamp with time zone,
    revoked_at timestamp with time zone,
    CONSTRAINT api_keys_name_check CHECK (((length(name) >= 1) AND (length(name) <= 255)))
);

ALTER TABLE public.api_keys ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.api_keys_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.audit_log (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    staff_id bigint,
    action text NOT NULL,
    client_id bigint,
    changes jsonb DEFAULT '{}'::jsonb NOT NULL,
    api_key_id bigint DEFAULT (NULLIF(current_setting('clientdesk.api_key_id'::text, true), ''::text))::bigint
);

ALTER TABLE public.audit_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.audit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.automation_runs (
    id bigint NOT NULL,
    as_of date NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    counts jsonb DEFAULT '{}'::jsonb NOT NULL,
    durations jsonb DEFAULT '{}'::jsonb NOT NULL,
    failures jsonb DEFAULT '[]'::jsonb NOT NULL
);

ALTER TABLE public.automation_runs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.automation_runs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.cancellation_requests (
    id bigint NOT NULL,
    service_id bigint,
    type text NOT NULL,
    reason text NOT NULL,
    status text DEFAULT 'PENDING'::text NOT NULL,
    due_date date NOT NULL,
    requested_by bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    carried_out_at timestamp with time zone,
    addon_id bigint,
    CONSTRAINT cancellation_requests_one_item CHECK ((num_nonnulls(service_id, addon_id) = 1)),
    CONSTRAINT cancellation_requests_reason_check CHECK ((reason <> ''::text)),
    CONSTRAINT cancellation_requests_status_check CHECK ((status = ANY (ARRAY['PENDING'::text, 'DONE'::text]))),
    CONSTRAINT cancellation_requests_type_check CHECK ((type = ANY (ARRAY['IMMEDIATE'::text, 'END_OF_BILLING_PERIOD'::text])))
);

ALTER TABLE public.cancellation_requests ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.cancellation_requests_id_seq
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
    key_version integer,
    nonce bytea,
    ciphertext bytea,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    gateway text,
    gateway_customer text,
    gateway_payment_method text,
    CONSTRAINT cards_expiry_check CHECK ((expiry ~ '^(0[1-9]|1[0-2])/[0-9]{2}$'::text)),
    CONSTRAINT cards_issue_number_check CHECK ((issue_number ~ '^[0-9]{1,4}$'::text)),
    CONSTRAINT cards_key_version_check CHECK ((key_version > 0)),
    CONSTRAINT cards_last_four_check CHECK ((last_four ~ '^[0-9]{4}$'::text)),
    CONSTRAINT cards_nonce_check CHECK ((length(nonce) = 12)),
    CONSTRAINT cards_number_or_gateway CHECK (
CASE
    WHEN (gateway IS NULL) THEN ((key_version IS NOT NULL) AND (nonce IS NOT NULL) AND (ciphertext IS NOT NULL) AND (gateway_customer IS NULL) AND (gateway_payment_method IS NULL))
    ELSE ((key_version IS NULL) AND (nonce IS NULL) AND (ciphertext IS NULL) AND (gateway_customer IS NOT NULL) AND (gateway_payment_method IS NOT NULL))
END),
    CONSTRAINT cards_start_date_check CHECK ((start_date ~ '^(0[1-9]|1[0-2])/[0-9]{2}$'::text))
);

CREATE TABLE public.client_files (
    id bigint NOT NULL,
    client_id bigint NOT NULL,
    title text NOT NULL,
    filename text NOT NULL,
    stored_name text NOT NULL,
    content_type text NOT NULL,
    size bigint NOT NULL,
    admin_only boolean DEFAULT false NOT NULL,
    uploaded_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT client_files_filename_check CHECK ((filename <> ''::text)),
    CONSTRAINT client_files_size_check CHECK ((size >= 0)),
    CONSTRAINT client_files_stored_name_check CHECK ((stored_name ~ '^[0-9a-f]{32}$'::text)),
    CONSTRAINT client_files_title_check CHECK ((title <> ''::text))
);

ALTER TABLE public.client_files ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.client_files_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.client_merges (
    merged_id bigint NOT NULL,
    into_id bigint NOT NULL,
    staff_id bigint,
    merged_at timestamp with time zone DEFAULT now() NOT NULL
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
)
WITH (fillfactor='70');
ALTER TABLE ONLY public.clients ALTER COLUMN search_text SET STATISTICS 1000;

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
    invited_at timestamp with time zone,
    CONSTRAINT contacts_country_check CHECK ((country ~ '^[A-Z]{2}$'::text)),
    CONSTRAINT contacts_email_preferences_check CHECK ((email_preferences <@ ARRAY['GENERAL'::text, 'INVOICE'::text, 'SUPPORT'::text, 'PRODUCT'::text, 'DOMAIN'::text, 'AFFILIATE'::text])),
    CONSTRAINT contacts_first_name_check CHECK ((first_name <> ''::text)),
    CONSTRAINT contacts_invited_without_login CHECK (((invited_at IS NULL) OR (login_id IS NULL))),
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

CREATE TABLE public.credit_log (
    id bigint NOT NULL,
    client_id bigint NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    description text NOT NULL,
    amount numeric(14,2) NOT NULL,
    staff_id bigint,
    invoice_id bigint,
    CONSTRAINT credit_log_amount_check CHECK ((amount <> (0)::numeric)),
    CONSTRAINT credit_log_description_check CHECK ((description <> ''::text))
);

ALTER TABLE public.credit_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.credit_log_id_seq
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

CREATE TABLE public.dashboard_counts (
    figure text NOT NULL,
    slot smallint NOT NULL,
    count bigint NOT NULL
);

CREATE TABLE public.dashboard_income (
    day date NOT NULL,
    currency character(3) NOT NULL,
    slot smallint NOT NULL,
    amount numeric NOT NULL
);

CREATE TABLE public.dashboard_unpaid (
    due_date date NOT NULL,
    currency character(3) NOT NULL,
    slot smallint NOT NULL,
    count bigint NOT NULL,
    amount numeric NOT NULL
);

CREATE TABLE public.domains (
    id bigint DEFAULT nextval('public.billable_item_ids'::regclass) NOT NULL,
    client_id bigint NOT NULL,
    order_id bigint,
    name text NOT NULL,
    amount numeric(14,2) NOT NULL,
    billing_cycle text NOT NULL,
    status text DEFAULT 'PENDING'::text NOT NULL,
    payment_method text,
    next_due_date date,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    product_id bigint,
    auto_renew boolean DEFAULT true NOT NULL,
    CONSTRAINT domains_amount_check CHECK ((amount >= (0)::numeric)),
    CONSTRAINT domains_billing_cycle_check CHECK ((billing_cycle = ANY (ARRAY['MONTHLY'::text, 'QUARTERLY'::text, 'SEMI_ANNUALLY'::text, 'ANNUALLY'::text, 'BIENNIALLY'::text, 'TRIENNIALLY'::text, 'ONE_TIME'::text]))),
    CONSTRAINT domains_name_check CHECK ((name <> ''::text)),
    CONSTRAINT domains_status_check CHECK ((status = ANY (ARRAY['PENDING'::text, 'PENDING_REGISTRATION'::text, 'PENDING_TRANSFER'::text, 'ACTIVE'::text, 'GRACE'::text, 'REDEMPTION'::text, 'EXPIRED'::text, 'TRANSFERRED_AWAY'::text, 'CANCELLED'::text, 'FRAUD'::text])))
);

CREATE TABLE public.email_templates (
    name text NOT NULL,
    language text NOT NULL,
    subject text NOT NULL,
    text text NOT NULL,
    html text,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.emails (
    id bigint NOT NULL,
    client_id bigint,
    template text NOT NULL,
    category text NOT NULL,
    to_address text NOT NULL,
    to_name text,
    context jsonb DEFAULT '{}'::jsonb NOT NULL,
    message_id text DEFAULT (((('<'::text || replace((gen_random_uuid())::text, '-'::text, ''::text)) || '@'::text) || COALESCE(NULLIF(current_setting('clientdesk.mail_domain'::text, true), ''::text), 'clientdesk'::text)) || '>'::text) NOT NULL,
    subject text,
    body text,
    attempts integer DEFAULT 0 NOT NULL,
    last_error text,
    created_xid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    sent_at timestamp with time zone,
    contact_id bigint,
    next_attempt_at timestamp with time zone,
    failed_at timestamp with time zone,
    dedupe_key text,
    from_address text,
    CONSTRAINT emails_category_check CHECK ((category = ANY (ARRAY['GENERAL'::text, 'INVOICE'::text, 'SUPPORT'::text, 'PRODUCT'::text, 'DOMAIN'::text, 'AFFILIATE'::text, 'ACCOUNT'::text]))),
    CONSTRAINT emails_sent_or_failed CHECK (((sent_at IS NULL) OR (failed_at IS NULL)))
);

ALTER TABLE public.emails ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.emails_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.events (
    id bigint NOT NULL,
    topic text NOT NULL,
    kind text NOT NULL,
    object_id bigint NOT NULL,
    client_id bigint,
    xid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    staff_only boolean DEFAULT false NOT NULL,
    CONSTRAINT events_kind_check CHECK ((kind = ANY (ARRAY['CREATED'::text, 'UPDATED'::text, 'DELETED'::text]))),
    CONSTRAINT events_topic_check CHECK ((topic = ANY (ARRAY['CLIENT'::text, 'INVOICE'::text, 'TICKET'::text, 'EMAIL'::text, 'AUTOMATION_RUN'::text])))
);

ALTER TABLE public.events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.file_chunks (
    stored_name text NOT NULL,
    seq integer NOT NULL,
    data bytea NOT NULL,
    CONSTRAINT file_chunks_data_check CHECK ((length(data) <= 262144)),
    CONSTRAINT file_chunks_seq_check CHECK ((seq >= 0)),
    CONSTRAINT file_chunks_stored_name_check CHECK ((stored_name ~ '^[0-9a-f]{32}$'::text))
);
ALTER TABLE ONLY public.file_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE public.gateway_customers (
    client_id bigint NOT NULL,
    gateway text NOT NULL,
    customer text NOT NULL
);

CREATE TABLE public.gateway_events (
    gateway text NOT NULL,
    event_id text NOT NULL,
    type text NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.idempotency_keys (
    login_id bigint NOT NULL,
    key text NOT NULL,
    operation text NOT NULL,
    fingerprint text NOT NULL,
    result jsonb,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT idempotency_keys_key_check CHECK (((length(key) >= 1) AND (length(key) <= 255)))
);

CREATE TABLE public.invoice_items (
    id bigint NOT NULL,
    invoice_id bigint NOT NULL,
    item_kind text,
    item_id bigint,
    period_start date,
    description text NOT NULL,
    amount numeric(14,2) NOT NULL,
    taxed boolean DEFAULT true NOT NULL,
    CONSTRAINT invoice_items_description_check CHECK ((description <> ''::text)),
    CONSTRAINT invoice_items_item_kind_check CHECK ((item_kind = ANY (ARRAY['SERVICE'::text, 'ADDON'::text, 'DOMAIN'::text])))
);

ALTER TABLE public.invoice_items ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.invoice_items_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.invoices (
    id bigint NOT NULL,
    client_id bigint NOT NULL,
    number bigint NOT NULL,
    status text DEFAULT 'UNPAID'::text NOT NULL,
    issue_date date DEFAULT CURRENT_DATE NOT NULL,
    due_date date NOT NULL,
    payment_method text,
    billed_to jsonb NOT NULL,
    subtotal numeric(14,2) DEFAULT 0 NOT NULL,
    tax_rate numeric(5,2) DEFAULT 0 NOT NULL,
    tax numeric(14,2) DEFAULT 0 NOT NULL,
    total numeric(14,2) GENERATED ALWAYS AS ((subtotal + tax)) STORED,
    credit numeric(14,2) DEFAULT 0 NOT NULL,
    amount_paid numeric(14,2) DEFAULT 0 NOT NULL,
    balance numeric(14,2) GENERATED ALWAYS AS ((((subtotal + tax) - credit) - amount_paid)) STORED,
    paid_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    late_fee_added boolean DEFAULT false NOT NULL,
    currency character(3) NOT NULL,
    CONSTRAINT invoices_amount_paid_check CHECK ((amount_paid >= (0)::numeric)),
    CONSTRAINT invoices_balance_check CHECK ((balance >= (0)::numeric)),
    CONSTRAINT invoices_credit_check CHECK ((credit >= (0)::numeric)),
    CONSTRAINT invoices_status_check CHECK ((status = ANY (ARRAY['UNPAID'::text, 'PAID'::text, 'CANCELLED'::text, 'REFUNDED'::text]))),
    CONSTRAINT invoices_tax_check CHECK ((tax >= (0)::numeric)),
    CONSTRAINT invoices_tax_rate_check CHECK ((tax_rate >= (0)::numeric))
);

CREATE SEQUENCE public.invoice_numbers
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.invoice_numbers OWNED BY public.invoices.number;

ALTER TABLE public.invoices ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.invoices_id_seq
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
    last_login_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    totp_enabled boolean DEFAULT false NOT NULL,
    totp_key_version integer,
    totp_nonce bytea,
    totp_ciphertext bytea,
    CONSTRAINT logins_totp_key_version_check CHECK ((totp_key_version > 0)),
    CONSTRAINT logins_totp_nonce_check CHECK ((length(totp_nonce) = 12)),
    CONSTRAINT logins_totp_sealed CHECK ((((totp_key_version IS NULL) = (totp_nonce IS NULL)) AND ((totp_nonce IS NULL) = (totp_ciphertext IS NULL)) AND ((NOT totp_enabled) OR (totp_ciphertext IS NOT NULL))))
);

ALTER TABLE public.logins ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.logins_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.orders (
    id bigint NOT NULL,
    client_id bigint NOT NULL,
    currency character(3) NOT NULL,
    payment_method text,
    status text DEFAULT 'PENDING'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    invoice_id bigint,
    CONSTRAINT orders_status_check CHECK ((status = ANY (ARRAY['PENDING'::text, 'ACCEPTED'::text])))
);

ALTER TABLE public.orders ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.orders_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.password_reset_requests (
    id bigint NOT NULL,
    email text NOT NULL,
    requested_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT password_reset_requests_email_check CHECK ((length(email) <= 255))
);

ALTER TABLE public.password_reset_requests ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.password_reset_requests_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.password_tokens (
    id bigint NOT NULL,
    token_hash bytea NOT NULL,
    login_id bigint,
    purpose text NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    contact_id bigint,
    new_email public.citext,
    CONSTRAINT password_tokens_holder CHECK (
CASE purpose
    WHEN 'INVITATION'::text THEN ((login_id IS NULL) AND (contact_id IS NOT NULL))
    ELSE ((contact_id IS NULL) AND (login_id IS NOT NULL))
END),
    CONSTRAINT password_tokens_new_email CHECK (((purpose = 'EMAIL_CHANGE'::text) = (new_email IS NOT NULL))),
    CONSTRAINT password_tokens_purpose_check CHECK ((purpose = ANY (ARRAY['RESET'::text, 'INVITATION'::text, 'STAFF_INVITATION'::text, 'EMAIL_CHANGE'::text]))),
    CONSTRAINT password_tokens_token_hash_check CHECK ((length(token_hash) = 32))
);

ALTER TABLE public.password_tokens ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.password_tokens_id_seq
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

CREATE TABLE public.product_groups (
    id bigint NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT product_groups_name_check CHECK ((name <> ''::text))
);

ALTER TABLE public.product_groups ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.product_groups_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.product_prices (
    product_id bigint NOT NULL,
    currency character(3) NOT NULL,
    cycle text NOT NULL,
    amount numeric(14,2) NOT NULL,
    setup_fee numeric(14,2) DEFAULT 0 NOT NULL,
    transfer_amount numeric(14,2),
    renew_amount numeric(14,2),
    CONSTRAINT product_prices_amount_check CHECK ((amount >= (0)::numeric)),
    CONSTRAINT product_prices_cycle_check CHECK ((cycle = ANY (ARRAY['MONTHLY'::text, 'QUARTERLY'::text, 'SEMI_ANNUALLY'::text, 'ANNUALLY'::text, 'BIENNIALLY'::text, 'TRIENNIALLY'::text, 'ONE_TIME'::text]))),
    CONSTRAINT product_prices_renew_amount_check CHECK ((renew_amount >= (0)::numeric)),
    CONSTRAINT product_prices_setup_fee_check CHECK ((setup_fee >= (0)::numeric)),
    CONSTRAINT product_prices_transfer_amount_check CHECK ((transfer_amount >= (0)::numeric))
);

CREATE TABLE public.products (
    id bigint NOT NULL,
    group_id bigint,
    kind text NOT NULL,
    name text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    hidden boolean DEFAULT false NOT NULL,
    addon_of bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT products_check CHECK (((kind = 'ADDON'::text) = (addon_of IS NOT NULL))),
    CONSTRAINT products_kind_check CHECK ((kind = ANY (ARRAY['SERVICE'::text, 'ADDON'::text, 'DOMAIN'::text]))),
    CONSTRAINT products_name_check CHECK ((name <> ''::text))
);

ALTER TABLE public.products ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.products_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.quote_lines (
    id bigint NOT NULL,
    quote_id bigint NOT NULL,
    description text NOT NULL,
    amount numeric(14,2) NOT NULL,
    product_id bigint,
    billing_cycle text,
    CONSTRAINT quote_lines_amount_check CHECK ((amount >= (0)::numeric)),
    CONSTRAINT quote_lines_billing_cycle_check CHECK ((billing_cycle = ANY (ARRAY['MONTHLY'::text, 'QUARTERLY'::text, 'SEMI_ANNUALLY'::text, 'ANNUALLY'::text, 'BIENNIALLY'::text, 'TRIENNIALLY'::text, 'ONE_TIME'::text])))
);

CREATE SEQUENCE public.quote_lines_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.quote_lines_id_seq OWNED BY public.quote_lines.id;

CREATE TABLE public.quotes (
    id bigint NOT NULL,
    client_id bigint NOT NULL,
    status text DEFAULT 'DRAFT'::text NOT NULL,
    valid_until date NOT NULL,
    currency character(3) NOT NULL,
    subtotal numeric(14,2) NOT NULL,
    invoice_id bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    sent_at timestamp with time zone,
    accepted_at timestamp with time zone,
    CONSTRAINT quotes_check CHECK (((status = 'ACCEPTED'::text) = (accepted_at IS NOT NULL))),
    CONSTRAINT quotes_status_check CHECK ((status = ANY (ARRAY['DRAFT'::text, 'SENT'::text, 'ACCEPTED'::text]))),
    CONSTRAINT quotes_subtotal_check CHECK ((subtotal >= (0)::numeric))
);

CREATE SEQUENCE public.quotes_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.quotes_id_seq OWNED BY public.quotes.id;

CREATE TABLE public.recovery_codes (
    login_id bigint NOT NULL,
    salt bytea NOT NULL,
    code_hashes bytea[] NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT recovery_codes_salt_check CHECK ((length(salt) = 16))
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
    user_agent text,
    service_status_filter text[],
    two_factor_passed boolean DEFAULT false NOT NULL,
    domain_status_filter text[]
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
    role text,
    active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    custom_role_id bigint,
    CONSTRAINT staff_one_role CHECK (((role IS NULL) <> (custom_role_id IS NULL))),
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

CREATE TABLE public.staff_roles (
    id bigint NOT NULL,
    name public.citext NOT NULL,
    built_in boolean DEFAULT false NOT NULL,
    permissions text[],
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT staff_roles_name_check CHECK (((length((name)::text) >= 1) AND (length((name)::text) <= 255))),
    CONSTRAINT staff_roles_permissions_of_custom CHECK ((built_in = (permissions IS NULL)))
);

ALTER TABLE public.staff_roles ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.staff_roles_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.tax_rules (
    id bigint NOT NULL,
    country character(2) NOT NULL,
    state text DEFAULT ''::text NOT NULL,
    name text NOT NULL,
    rate numeric(5,2) NOT NULL,
    CONSTRAINT tax_rules_country_check CHECK ((country ~ '^[A-Z]{2}$'::text)),
    CONSTRAINT tax_rules_name_check CHECK ((name <> ''::text)),
    CONSTRAINT tax_rules_rate_check CHECK (((rate > (0)::numeric) AND (rate <= (100)::numeric)))
);

ALTER TABLE public.tax_rules ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.tax_rules_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.ticket_attachments (
    id bigint NOT NULL,
    message_id bigint NOT NULL,
    filename text NOT NULL,
    stored_name text NOT NULL,
    content_type text NOT NULL,
    size bigint NOT NULL,
    uploaded_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT ticket_attachments_filename_check CHECK ((filename <> ''::text)),
    CONSTRAINT ticket_attachments_size_check CHECK ((size >= 0)),
    CONSTRAINT ticket_attachments_stored_name_check CHECK ((stored_name ~ '^[0-9a-f]{32}$'::text))
);

ALTER TABLE public.ticket_attachments ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.ticket_attachments_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.ticket_departments (
    id bigint NOT NULL,
    name text NOT NULL,
    email public.citext NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT ticket_departments_name_check CHECK (((name <> ''::text) AND (length(name) <= 100)))
);

ALTER TABLE public.ticket_departments ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.ticket_departments_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.ticket_messages (
    id bigint NOT NULL,
    ticket_id bigint NOT NULL,
    staff_id bigint,
    author text NOT NULL,
    body text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    unverified_sender boolean DEFAULT false NOT NULL,
    internal boolean DEFAULT false NOT NULL,
    CONSTRAINT ticket_messages_body_check CHECK (((body <> ''::text) AND (length(body) <= 20000)))
);

ALTER TABLE public.ticket_messages ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.ticket_messages_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.tickets (
    id bigint NOT NULL,
    client_id bigint NOT NULL,
    opened_by text NOT NULL,
    contact_id bigint,
    opener text NOT NULL,
    subject text NOT NULL,
    status text DEFAULT 'OPEN'::text NOT NULL,
    opened_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    reply_token text DEFAULT "left"(encode(sha256(((gen_random_uuid())::text)::bytea), 'hex'::text), 16) NOT NULL,
    department_id bigint,
    CONSTRAINT tickets_check CHECK (((opened_by = 'CONTACT'::text) OR (contact_id IS NULL))),
    CONSTRAINT tickets_opened_by_check CHECK ((opened_by = ANY (ARRAY['CLIENT'::text, 'CONTACT'::text]))),
    CONSTRAINT tickets_reply_token_check CHECK ((reply_token ~ '^[0-9a-f]{16}$'::text)),
    CONSTRAINT tickets_status_check CHECK ((status = ANY (ARRAY['OPEN'::text, 'ANSWERED'::text, 'CUSTOMER_REPLY'::text, 'ON_HOLD'::text, 'CLOSED'::text]))),
    CONSTRAINT tickets_subject_check CHECK (((subject <> ''::text) AND (length(subject) <= 255)))
);

ALTER TABLE public.tickets ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.tickets_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.transactions (
    id bigint NOT NULL,
    client_id bigint NOT NULL,
    invoice_id bigint,
    date timestamp with time zone DEFAULT now() NOT NULL,
    gateway text NOT NULL,
    transaction_id text,
    amount numeric(14,2) NOT NULL,
    fees numeric(14,2) DEFAULT 0 NOT NULL,
    currency character(3) NOT NULL,
    client_name text,
    client_company_name text,
    refund_of bigint,
    refund_kind text,
    credited numeric(14,2) DEFAULT 0 NOT NULL,
    CONSTRAINT transactions_amount_check CHECK (
CASE
    WHEN (refund_of IS NULL) THEN ((amount > (0)::numeric) AND (refund_kind IS NULL) AND (credited <= amount))
    ELSE ((amount < (0)::numeric) AND (refund_kind IS NOT NULL) AND (credited <= (- amount)))
END),
    CONSTRAINT transactions_credited_check CHECK ((credited >= (0)::numeric)),
    CONSTRAINT transactions_fees_check CHECK ((fees >= (0)::numeric)),
    CONSTRAINT transactions_refund_kind_check CHECK ((refund_kind = ANY (ARRAY['GATEWAY'::text, 'CREDIT'::text, 'MANUAL'::text])))
);

ALTER TABLE public.transactions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.transactions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE ONLY public.affiliate_commissions ALTER COLUMN id SET DEFAULT nextval('public.affiliate_commissions_id_seq'::regclass);

ALTER TABLE ONLY public.affiliate_payouts ALTER COLUMN id SET DEFAULT nextval('public.affiliate_payouts_id_seq'::regclass);

ALTER TABLE ONLY public.affiliates ALTER COLUMN id SET DEFAULT nextval('public.affiliates_id_seq'::regclass);

ALTER TABLE ONLY public.invoices ALTER COLUMN number SET DEFAULT nextval('public.invoice_numbers'::regclass);

ALTER TABLE ONLY public.quote_lines ALTER COLUMN id SET DEFAULT nextval('public.quote_lines_id_seq'::regclass);

ALTER TABLE ONLY public.quotes ALTER COLUMN id SET DEFAULT nextval('public.quotes_id_seq'::regclass);

ALTER TABLE ONLY public.services ALTER COLUMN id SET DEFAULT nextval('public.billable_item_ids'::regclass);

ALTER TABLE ONLY public.addons
    ADD CONSTRAINT addons_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.affiliate_commissions
    ADD CONSTRAINT affiliate_commissions_invoice_id_key UNIQUE (invoice_id);

ALTER TABLE ONLY public.affiliate_commissions
    ADD CONSTRAINT affiliate_commissions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.affiliate_payouts
    ADD CONSTRAINT affiliate_payouts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.affiliate_referrals
    ADD CONSTRAINT affiliate_referrals_pkey PRIMARY KEY (client_id);

ALTER TABLE ONLY public.affiliates
    ADD CONSTRAINT affiliates_client_id_key UNIQUE (client_id);

ALTER TABLE ONLY public.affiliates
    ADD CONSTRAINT affiliates_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.affiliates
    ADD CONSTRAINT affiliates_referral_code_key UNIQUE (referral_code);

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_prefix_key UNIQUE (prefix);

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.automation_runs
    ADD CONSTRAINT automation_runs_as_of_key UNIQUE (as_of);

ALTER TABLE ONLY public.automation_runs
    ADD CONSTRAINT automation_runs_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cancellation_requests
    ADD CONSTRAINT cancellation_requests_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cards
    ADD CONSTRAINT cards_pkey PRIMARY KEY (client_id);

ALTER TABLE ONLY public.client_files
    ADD CONSTRAINT client_files_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.client_files
    ADD CONSTRAINT client_files_stored_name_key UNIQUE (stored_name);

ALTER TABLE ONLY public.client_merges
    ADD CONSTRAINT client_merges_pkey PRIMARY KEY (merged_id);

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

ALTER TABLE ONLY public.credit_log
    ADD CONSTRAINT credit_log_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.currencies
    ADD CONSTRAINT currencies_pkey PRIMARY KEY (code);

ALTER TABLE ONLY public.dashboard_counts
    ADD CONSTRAINT dashboard_counts_pkey PRIMARY KEY (figure, slot);

ALTER TABLE ONLY public.dashboard_income
    ADD CONSTRAINT dashboard_income_pkey PRIMARY KEY (day, currency, slot);

ALTER TABLE ONLY public.dashboard_unpaid
    ADD CONSTRAINT dashboard_unpaid_pkey PRIMARY KEY (due_date, currency, slot);

ALTER TABLE ONLY public.domains
    ADD CONSTRAINT domains_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.email_templates
    ADD CONSTRAINT email_templates_pkey PRIMARY KEY (name, language);

ALTER TABLE ONLY public.emails
    ADD CONSTRAINT emails_message_id_key UNIQUE (message_id);

ALTER TABLE ONLY public.emails
    ADD CONSTRAINT emails_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.file_chunks
    ADD CONSTRAINT file_chunks_pkey PRIMARY KEY (stored_name, seq);

ALTER TABLE ONLY public.gateway_customers
    ADD CONSTRAINT gateway_customers_pkey PRIMARY KEY (client_id, gateway);

ALTER TABLE ONLY public.gateway_events
    ADD CONSTRAINT gateway_events_pkey PRIMARY KEY (gateway, event_id);

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (login_id, key);

ALTER TABLE ONLY public.invoice_items
    ADD CONSTRAINT invoice_items_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.invoices
    ADD CONSTRAINT invoices_number_key UNIQUE (number);

ALTER TABLE ONLY public.invoices
    ADD CONSTRAINT invoices_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.logins
    ADD CONSTRAINT logins_email_key UNIQUE (email);

ALTER TABLE ONLY public.logins
    ADD CONSTRAINT logins_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.password_reset_requests
    ADD CONSTRAINT password_reset_requests_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.password_tokens
    ADD CONSTRAINT password_tokens_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.password_tokens
    ADD CONSTRAINT password_tokens_token_hash_key UNIQUE (token_hash);

ALTER TABLE ONLY public.payment_gateways
    ADD CONSTRAINT payment_gateways_pkey PRIMARY KEY (name);

ALTER TABLE ONLY public.product_groups
    ADD CONSTRAINT product_groups_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.product_prices
    ADD CONSTRAINT product_prices_pkey PRIMARY KEY (product_id, currency, cycle);

ALTER TABLE ONLY public.products
    ADD CONSTRAINT products_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.quote_lines
    ADD CONSTRAINT quote_lines_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.quotes
    ADD CONSTRAINT quotes_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.recovery_codes
    ADD CONSTRAINT recovery_codes_pkey PRIMARY KEY (login_id);

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY public.services
    ADD CONSTRAINT services_pkey PRIMARY KEY (id);

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

ALTER TABLE ONLY public.staff_roles
    ADD CONSTRAINT staff_roles_name_key UNIQUE (name);

ALTER TABLE ONLY public.staff_roles
    ADD CONSTRAINT staff_roles_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.tax_rules
    ADD CONSTRAINT tax_rules_country_state_key UNIQUE (country, state);

ALTER TABLE ONLY public.tax_rules
    ADD CONSTRAINT tax_rules_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.ticket_attachments
    ADD CONSTRAINT ticket_attachments_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.ticket_attachments
    ADD CONSTRAINT ticket_attachments_stored_name_key UNIQUE (stored_name);

ALTER TABLE ONLY public.ticket_departments
    ADD CONSTRAINT ticket_departments_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.ticket_messages
    ADD CONSTRAINT ticket_messages_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.tickets
    ADD CONSTRAINT tickets_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.transactions
    ADD CONSTRAINT transactions_pkey PRIMARY KEY (id);

CREATE INDEX addons_client ON public.addons USING btree (client_id, id);

CREATE INDEX addons_due ON public.addons USING btree (next_due_date) WHERE (status = ANY (ARRAY['ACTIVE'::text, 'SUSPENDED'::text]));

CREATE INDEX addons_order ON public.addons USING btree (order_id);

CREATE INDEX addons_service_id ON public.addons USING btree (service_id) WHERE (service_id IS NOT NULL);

CREATE INDEX affiliate_commissions_affiliate ON public.affiliate_commissions USING btree (affiliate_id, id);

CREATE INDEX affiliate_payouts_affiliate ON public.affiliate_payouts USING btree (affiliate_id, id);

CREATE INDEX affiliate_referrals_affiliate ON public.affiliate_referrals USING btree (affiliate_id, client_id);

CREATE INDEX api_keys_role_id ON public.api_keys USING btree (role_id);

CREATE INDEX api_keys_staff_id ON public.api_keys USING btree (staff_id);

CREATE INDEX audit_log_client ON public.audit_log USING btree (client_id, id DESC);

CREATE INDEX cancellation_requests_addon ON public.cancellation_requests USING btree (addon_id) WHERE (addon_id IS NOT NULL);

CREATE INDEX cancellation_requests_due ON public.cancellation_requests USING btree (due_date) WHERE (status = 'PENDING'::text);

CREATE UNIQUE INDEX cancellation_requests_open ON public.cancellation_requests USING btree (service_id) WHERE (status = 'PENDING'::text);

CREATE UNIQUE INDEX cancellation_requests_open_addon ON public.cancellation_requests USING btree (addon_id) WHERE (status = 'PENDING'::text);

CREATE INDEX cards_key_version ON public.cards USING btree (key_version);

CREATE INDEX client_files_client ON public.client_files USING btree (client_id, id);

CREATE INDEX client_merges_into ON public.client_merges USING btree (into_id, merged_id);

CREATE INDEX clients_order_company ON public.clients USING btree (lower(COALESCE(company_name, ''::text)), id);

CREATE INDEX clients_order_created_at ON public.clients USING btree (created_at, id);

CREATE INDEX clients_order_email ON public.clients USING btree (lower((email)::text), id);

CREATE INDEX clients_order_name ON public.clients USING btree (lower(((last_name || ', '::text) || first_name)), id);

CREATE INDEX clients_search_text ON public.clients USING gin (search_text public.gin_trgm_ops);

CREATE INDEX clients_with_credit ON public.clients USING btree (id) WHERE (credit_balance > (0)::numeric);

CREATE INDEX contacts_client_id ON public.contacts USING btree (client_id, id);

CREATE INDEX credit_log_client ON public.credit_log USING btree (client_id, created_at DESC, id DESC);

CREATE INDEX credit_log_invoice ON public.credit_log USING btree (invoice_id) WHERE (invoice_id IS NOT NULL);

CREATE UNIQUE INDEX currencies_one_default ON public.currencies USING btree (is_default) WHERE is_default;

CREATE INDEX domains_client ON public.domains USING btree (client_id, id);

CREATE INDEX domains_due ON public.domains USING btree (next_due_date) WHERE (status = 'ACTIVE'::text);

CREATE INDEX domains_order ON public.domains USING btree (order_id);

CREATE INDEX emails_client ON public.emails USING btree (client_id);

CREATE INDEX emails_client_sent ON public.emails USING btree (client_id, sent_at DESC) WHERE (sent_at IS NOT NULL);

CREATE INDEX emails_created_xid ON public.emails USING btree (created_xid) WHERE (sent_at IS NULL);

CREATE UNIQUE INDEX emails_dedupe_key ON public.emails USING btree (dedupe_key) WHERE (dedupe_key IS NOT NULL);

CREATE INDEX emails_failed ON public.emails USING btree (id DESC) WHERE (failed_at IS NOT NULL);

CREATE INDEX emails_pending ON public.emails USING btree (created_at) WHERE ((sent_at IS NULL) AND (failed_at IS NULL));

CREATE INDEX events_at ON public.events USING btree (at);

CREATE INDEX idempotency_keys_created_at ON public.idempotency_keys USING btree (created_at);

CREATE INDEX invoice_items_invoice ON public.invoice_items USING btree (invoice_id, id);

CREATE UNIQUE INDEX invoice_items_period ON public.invoice_items USING btree (item_kind, item_id, period_start) WHERE (item_id IS NOT NULL);

CREATE INDEX invoices_client ON public.invoices USING btree (client_id, id);

CREATE INDEX invoices_list_client_due ON public.invoices USING btree (client_id, due_date, id);

CREATE INDEX invoices_list_due ON public.invoices USING btree (due_date, id);

CREATE INDEX invoices_list_status ON public.invoices USING btree (status, id);

CREATE INDEX invoices_list_status_due ON public.invoices USING btree (status, due_date, id);

CREATE INDEX invoices_unpaid_due ON public.invoices USING btree (due_date) WHERE (status = 'UNPAID'::text);

CREATE INDEX orders_client ON public.orders USING btree (client_id, id);

CREATE INDEX orders_invoice ON public.orders USING btree (invoice_id);

CREATE INDEX password_tokens_contact_id ON public.password_tokens USING btree (contact_id) WHERE (contact_id IS NOT NULL);

CREATE INDEX password_tokens_login_id ON public.password_tokens USING btree (login_id);

CREATE INDEX products_group_id ON public.products USING btree (group_id);

CREATE INDEX quote_lines_product ON public.quote_lines USING btree (product_id) WHERE (product_id IS NOT NULL);

CREATE INDEX quote_lines_quote ON public.quote_lines USING btree (quote_id, id);

CREATE INDEX quotes_client ON public.quotes USING btree (client_id, id);

CREATE INDEX services_client ON public.services USING btree (client_id, id);

CREATE INDEX services_due ON public.services USING btree (next_due_date) WHERE (status = ANY (ARRAY['ACTIVE'::text, 'SUSPENDED'::text]));

CREATE INDEX services_list_client_due ON public.services USING btree (client_id, COALESCE(next_due_date, 'infinity'::date), id);

CREATE INDEX services_list_due ON public.services USING btree (COALESCE(next_due_date, 'infinity'::date), id);

CREATE INDEX services_list_status ON public.services USING btree (status, id);

CREATE INDEX services_list_status_due ON public.services USING btree (status, COALESCE(next_due_date, 'infinity'::date), id);

CREATE INDEX services_order ON public.services USING btree (order_id);

CREATE INDEX sessions_expires_at ON public.sessions USING btree (expires_at);

CREATE INDEX sessions_login_id ON public.sessions USING btree (login_id);

CREATE INDEX staff_custom_role_id ON public.staff USING btree (custom_role_id) WHERE (custom_role_id IS NOT NULL);

CREATE INDEX ticket_attachments_message_id ON public.ticket_attachments USING btree (message_id, id);

CREATE UNIQUE INDEX ticket_departments_name ON public.ticket_departments USING btree (lower(name));

CREATE INDEX ticket_messages_ticket_id ON public.ticket_messages USING btree (ticket_id, id);

CREATE INDEX tickets_client_id ON public.tickets USING btree (client_id, id);

CREATE INDEX tickets_contact_id ON public.tickets USING btree (contact_id) WHERE (contact_id IS NOT NULL);

CREATE INDEX tickets_department_id ON public.tickets USING btree (department_id, id) WHERE (department_id IS NOT NULL);

CREATE INDEX tickets_list_client_updated ON public.tickets USING btree (client_id, updated_at, id);

CREATE INDEX tickets_list_status ON public.tickets USING btree (status, id);

CREATE INDEX tickets_list_status_updated ON public.tickets USING btree (status, updated_at, id);

CREATE INDEX tickets_list_updated ON public.tickets USING btree (updated_at, id);

CREATE INDEX transactions_client ON public.transactions USING btree (client_id, id);

CREATE UNIQUE INDEX transactions_gateway_id ON public.transactions USING btree (gateway, transaction_id) WHERE (transaction_id IS NOT NULL);

CREATE INDEX transactions_invoice ON public.transactions USING btree (invoice_id);

CREATE INDEX transactions_refund_of ON public.transactions USING btree (refund_of) WHERE (refund_of IS NOT NULL);

CREATE TRIGGER api_keys_access_changed AFTER DELETE OR UPDATE OF revoked_at, expires_at, role_id ON public.api_keys FOR EACH ROW EXECUTE FUNCTION public.notify_access_change();

CREATE TRIGGER automation_runs_deleted_events AFTER DELETE ON public.automation_runs REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('AUTOMATION_RUN', 'n.id', 'NULL::bigint');

CREATE TRIGGER automation_runs_inserted_events AFTER INSERT ON public.automation_runs REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('AUTOMATION_RUN', 'n.id', 'NULL::bigint');

CREATE TRIGGER automation_runs_updated_events AFTER UPDATE ON public.automation_runs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('AUTOMATION_RUN', 'n.id', 'NULL::bigint');

CREATE TRIGGER clients_access_changed AFTER DELETE OR UPDATE OF status, owner_login_id ON public.clients FOR EACH STATEMENT EXECUTE FUNCTION public.notify_access_change();

CREATE TRIGGER clients_deleted_events AFTER DELETE ON public.clients REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('CLIENT', 'n.id', 'n.id');

CREATE TRIGGER clients_inserted_events AFTER INSERT ON public.clients REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('CLIENT', 'n.id', 'n.id');

CREATE TRIGGER clients_updated_events AFTER UPDATE ON public.clients REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('CLIENT', 'n.id', 'n.id');

CREATE TRIGGER contacts_access_changed AFTER DELETE OR UPDATE OF permissions, login_id, client_id ON public.contacts FOR EACH ROW EXECUTE FUNCTION public.notify_access_change();

CREATE TRIGGER currencies_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.currencies FOR EACH STATEMENT EXECUTE FUNCTION public.notify_reference_change();

CREATE TRIGGER dashboard_clients_deleted AFTER DELETE ON public.clients REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_rows_changed('clients', 'dashboard_client_figures(status)');

CREATE TRIGGER dashboard_clients_inserted AFTER INSERT ON public.clients REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_rows_changed('clients', 'dashboard_client_figures(status)');

CREATE TRIGGER dashboard_clients_truncated AFTER TRUNCATE ON public.clients FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_rows_changed('clients');

CREATE TRIGGER dashboard_clients_updated AFTER UPDATE ON public.clients REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_rows_changed('clients', 'dashboard_client_figures(status)');

CREATE TRIGGER dashboard_emails_deleted AFTER DELETE ON public.emails REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_rows_changed('emails', 'dashboard_email_figures(sent_at, failed_at)');

CREATE TRIGGER dashboard_emails_inserted AFTER INSERT ON public.emails REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_rows_changed('emails', 'dashboard_email_figures(sent_at, failed_at)');

CREATE TRIGGER dashboard_emails_truncated AFTER TRUNCATE ON public.emails FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_rows_changed('emails');

CREATE TRIGGER dashboard_emails_updated AFTER UPDATE ON public.emails REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_rows_changed('emails', 'dashboard_email_figures(sent_at, failed_at)');

CREATE TRIGGER dashboard_invoices_deleted AFTER DELETE ON public.invoices REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_invoices_changed();

CREATE TRIGGER dashboard_invoices_inserted AFTER INSERT ON public.invoices REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_invoices_changed();

CREATE TRIGGER dashboard_invoices_truncated AFTER TRUNCATE ON public.invoices FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_invoices_changed();

CREATE TRIGGER dashboard_invoices_updated AFTER UPDATE ON public.invoices REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_invoices_changed();

CREATE TRIGGER dashboard_tickets_deleted AFTER DELETE ON public.tickets REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_rows_changed('tickets', 'dashboard_ticket_figures(status)');

CREATE TRIGGER dashboard_tickets_inserted AFTER INSERT ON public.tickets REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_rows_changed('tickets', 'dashboard_ticket_figures(status)');

CREATE TRIGGER dashboard_tickets_truncated AFTER TRUNCATE ON public.tickets FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_rows_changed('tickets');

CREATE TRIGGER dashboard_tickets_updated AFTER UPDATE ON public.tickets REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_rows_changed('tickets', 'dashboard_ticket_figures(status)');

CREATE TRIGGER dashboard_transactions_deleted AFTER DELETE ON public.transactions REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_transactions_changed();

CREATE TRIGGER dashboard_transactions_inserted AFTER INSERT ON public.transactions REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_transactions_changed();

CREATE TRIGGER dashboard_transactions_truncated AFTER TRUNCATE ON public.transactions FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_transactions_changed();

CREATE TRIGGER dashboard_transactions_updated AFTER UPDATE ON public.transactions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_transactions_changed();

CREATE TRIGGER dashboard_zone_deleted AFTER DELETE ON public.settings FOR EACH ROW WHEN (((old.key = 'automation'::text) AND (COALESCE((old.value ->> 'time_zone'::text), 'UTC'::text) <> 'UTC'::text))) EXECUTE FUNCTION public.dashboard_zone_changed();

CREATE TRIGGER dashboard_zone_inserted AFTER INSERT ON public.settings FOR EACH ROW WHEN (((new.key = 'automation'::text) AND (COALESCE((new.value ->> 'time_zone'::text), 'UTC'::text) <> 'UTC'::text))) EXECUTE FUNCTION public.dashboard_zone_changed();

CREATE TRIGGER dashboard_zone_truncated AFTER TRUNCATE ON public.settings FOR EACH STATEMENT EXECUTE FUNCTION public.dashboard_zone_changed();

CREATE TRIGGER dashboard_zone_updated AFTER UPDATE ON public.settings FOR EACH ROW WHEN (((old.key = 'automation'::text) AND (new.key = 'automation'::text) AND (COALESCE((old.value ->> 'time_zone'::text), 'UTC'::text) <> COALESCE((new.value ->> 'time_zone'::text), 'UTC'::text)))) EXECUTE FUNCTION public.dashboard_zone_changed();

CREATE TRIGGER emails_deleted_events AFTER DELETE ON public.emails REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('EMAIL', 'n.id', 'n.client_id');

CREATE TRIGGER emails_inserted_events AFTER INSERT ON public.emails REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('EMAIL', 'n.id', 'n.client_id');

CREATE TRIGGER emails_updated_events AFTER UPDATE ON public.emails REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('EMAIL', 'n.id', 'n.client_id');

CREATE TRIGGER invoices_deleted_events AFTER DELETE ON public.invoices REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('INVOICE', 'n.id', 'n.client_id');

CREATE TRIGGER invoices_inserted_events AFTER INSERT ON public.invoices REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('INVOICE', 'n.id', 'n.client_id');

CREATE TRIGGER invoices_updated_events AFTER UPDATE ON public.invoices REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('INVOICE', 'n.id', 'n.client_id');

CREATE TRIGGER sessions_access_changed AFTER DELETE OR UPDATE OF expires_at ON public.sessions FOR EACH ROW EXECUTE FUNCTION public.notify_access_change();

CREATE TRIGGER settings_changed AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.settings FOR EACH STATEMENT EXECUTE FUNCTION public.notify_reference_change();

CREATE TRIGGER staff_access_changed AFTER DELETE OR UPDATE OF active, role, custom_role_id ON public.staff FOR EACH ROW EXECUTE FUNCTION public.notify_access_change();

CREATE TRIGGER staff_roles_access_changed AFTER DELETE OR UPDATE ON public.staff_roles FOR EACH STATEMENT EXECUTE FUNCTION public.notify_access_change();

CREATE TRIGGER ticket_messages_deleted_events AFTER DELETE ON public.ticket_messages REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('TICKET', 'n.ticket_id', '(SELECT t.client_id FROM tickets t WHERE t.id = n.ticket_id)', 'UPDATED', 'n.internal');

CREATE TRIGGER ticket_messages_inserted_events AFTER INSERT ON public.ticket_messages REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('TICKET', 'n.ticket_id', '(SELECT t.client_id FROM tickets t WHERE t.id = n.ticket_id)', 'UPDATED', 'n.internal');

CREATE TRIGGER ticket_messages_updated_events AFTER UPDATE ON public.ticket_messages REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('TICKET', 'n.ticket_id', '(SELECT t.client_id FROM tickets t WHERE t.id = n.ticket_id)', 'UPDATED', 'n.internal');

CREATE TRIGGER tickets_deleted_events AFTER DELETE ON public.tickets REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('TICKET', 'n.id', 'n.client_id');

CREATE TRIGGER tickets_inserted_events AFTER INSERT ON public.tickets REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('TICKET', 'n.id', 'n.client_id');

CREATE TRIGGER tickets_updated_events AFTER UPDATE ON public.tickets REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.record_events('TICKET', 'n.id', 'n.client_id');

ALTER TABLE ONLY public.addons
    ADD CONSTRAINT addons_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.addons
    ADD CONSTRAINT addons_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.addons
    ADD CONSTRAINT addons_payment_method_fkey FOREIGN KEY (payment_method) REFERENCES public.payment_gateways(name);

ALTER TABLE ONLY public.addons
    ADD CONSTRAINT addons_product_id_fkey FOREIGN KEY (product_id) REFERENCES public.products(id);

ALTER TABLE ONLY public.addons
    ADD CONSTRAINT addons_service_id_fkey FOREIGN KEY (service_id) REFERENCES public.services(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.affiliate_commissions
    ADD CONSTRAINT affiliate_commissions_affiliate_id_fkey FOREIGN KEY (affiliate_id) REFERENCES public.affiliates(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.affiliate_commissions
    ADD CONSTRAINT affiliate_commissions_invoice_id_fkey FOREIGN KEY (invoice_id) REFERENCES public.invoices(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.affiliate_payouts
    ADD CONSTRAINT affiliate_payouts_affiliate_id_fkey FOREIGN KEY (affiliate_id) REFERENCES public.affiliates(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.affiliate_payouts
    ADD CONSTRAINT affiliate_payouts_staff_id_fkey FOREIGN KEY (staff_id) REFERENCES public.staff(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.affiliate_referrals
    ADD CONSTRAINT affiliate_referrals_affiliate_id_fkey FOREIGN KEY (affiliate_id) REFERENCES public.affiliates(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.affiliate_referrals
    ADD CONSTRAINT affiliate_referrals_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.affiliates
    ADD CONSTRAINT affiliates_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_role_id_fkey FOREIGN KEY (role_id) REFERENCES public.staff_roles(id) ON DELETE RESTRICT;

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_staff_id_fkey FOREIGN KEY (staff_id) REFERENCES public.staff(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_staff_id_fkey FOREIGN KEY (staff_id) REFERENCES public.staff(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.cancellation_requests
    ADD CONSTRAINT cancellation_requests_addon_id_fkey FOREIGN KEY (addon_id) REFERENCES public.addons(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.cancellation_requests
    ADD CONSTRAINT cancellation_requests_requested_by_fkey FOREIGN KEY (requested_by) REFERENCES public.logins(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.cancellation_requests
    ADD CONSTRAINT cancellation_requests_service_id_fkey FOREIGN KEY (service_id) REFERENCES public.services(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.cards
    ADD CONSTRAINT cards_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.cards
    ADD CONSTRAINT cards_gateway_fkey FOREIGN KEY (gateway) REFERENCES public.payment_gateways(name);

ALTER TABLE ONLY public.client_files
    ADD CONSTRAINT client_files_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.client_merges
    ADD CONSTRAINT client_merges_into_id_fkey FOREIGN KEY (into_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.client_merges
    ADD CONSTRAINT client_merges_staff_id_fkey FOREIGN KEY (staff_id) REFERENCES public.staff(id) ON DELETE SET NULL;

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

ALTER TABLE ONLY public.credit_log
    ADD CONSTRAINT credit_log_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.credit_log
    ADD CONSTRAINT credit_log_invoice_fkey FOREIGN KEY (invoice_id) REFERENCES public.invoices(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.credit_log
    ADD CONSTRAINT credit_log_staff_id_fkey FOREIGN KEY (staff_id) REFERENCES public.staff(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.domains
    ADD CONSTRAINT domains_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.domains
    ADD CONSTRAINT domains_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.domains
    ADD CONSTRAINT domains_payment_method_fkey FOREIGN KEY (payment_method) REFERENCES public.payment_gateways(name);

ALTER TABLE ONLY public.domains
    ADD CONSTRAINT domains_product_id_fkey FOREIGN KEY (product_id) REFERENCES public.products(id);

ALTER TABLE ONLY public.emails
    ADD CONSTRAINT emails_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.emails
    ADD CONSTRAINT emails_contact_id_fkey FOREIGN KEY (contact_id) REFERENCES public.contacts(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.gateway_customers
    ADD CONSTRAINT gateway_customers_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.gateway_customers
    ADD CONSTRAINT gateway_customers_gateway_fkey FOREIGN KEY (gateway) REFERENCES public.payment_gateways(name);

ALTER TABLE ONLY public.gateway_events
    ADD CONSTRAINT gateway_events_gateway_fkey FOREIGN KEY (gateway) REFERENCES public.payment_gateways(name);

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_login_id_fkey FOREIGN KEY (login_id) REFERENCES public.logins(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.invoice_items
    ADD CONSTRAINT invoice_items_invoice_id_fkey FOREIGN KEY (invoice_id) REFERENCES public.invoices(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.invoices
    ADD CONSTRAINT invoices_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.invoices
    ADD CONSTRAINT invoices_currency_fkey FOREIGN KEY (currency) REFERENCES public.currencies(code);

ALTER TABLE ONLY public.invoices
    ADD CONSTRAINT invoices_payment_method_fkey FOREIGN KEY (payment_method) REFERENCES public.payment_gateways(name);

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_currency_fkey FOREIGN KEY (currency) REFERENCES public.currencies(code);

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_invoice_id_fkey FOREIGN KEY (invoice_id) REFERENCES public.invoices(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_payment_method_fkey FOREIGN KEY (payment_method) REFERENCES public.payment_gateways(name);

ALTER TABLE ONLY public.password_tokens
    ADD CONSTRAINT password_tokens_contact_id_fkey FOREIGN KEY (contact_id) REFERENCES public.contacts(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.password_tokens
    ADD CONSTRAINT password_tokens_login_id_fkey FOREIGN KEY (login_id) REFERENCES public.logins(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.product_prices
    ADD CONSTRAINT product_prices_product_id_fkey FOREIGN KEY (product_id) REFERENCES public.products(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.products
    ADD CONSTRAINT products_addon_of_fkey FOREIGN KEY (addon_of) REFERENCES public.products(id);

ALTER TABLE ONLY public.products
    ADD CONSTRAINT products_group_id_fkey FOREIGN KEY (group_id) REFERENCES public.product_groups(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.quote_lines
    ADD CONSTRAINT quote_lines_product_id_fkey FOREIGN KEY (product_id) REFERENCES public.products(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.quote_lines
    ADD CONSTRAINT quote_lines_quote_id_fkey FOREIGN KEY (quote_id) REFERENCES public.quotes(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.quotes
    ADD CONSTRAINT quotes_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.quotes
    ADD CONSTRAINT quotes_invoice_id_fkey FOREIGN KEY (invoice_id) REFERENCES public.invoices(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.recovery_codes
    ADD CONSTRAINT recovery_codes_login_id_fkey FOREIGN KEY (login_id) REFERENCES public.logins(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.services
    ADD CONSTRAINT services_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.services
    ADD CONSTRAINT services_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.services
    ADD CONSTRAINT services_payment_method_fkey FOREIGN KEY (payment_method) REFERENCES public.payment_gateways(name);

ALTER TABLE ONLY public.services
    ADD CONSTRAINT services_product_id_fkey FOREIGN KEY (product_id) REFERENCES public.products(id);

ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_login_id_fkey FOREIGN KEY (login_id) REFERENCES public.logins(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.staff
    ADD CONSTRAINT staff_custom_role_id_fkey FOREIGN KEY (custom_role_id) REFERENCES public.staff_roles(id) ON DELETE RESTRICT;

ALTER TABLE ONLY public.staff
    ADD CONSTRAINT staff_login_id_fkey FOREIGN KEY (login_id) REFERENCES public.logins(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.ticket_attachments
    ADD CONSTRAINT ticket_attachments_message_id_fkey FOREIGN KEY (message_id) REFERENCES public.ticket_messages(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.ticket_messages
    ADD CONSTRAINT ticket_messages_staff_id_fkey FOREIGN KEY (staff_id) REFERENCES public.staff(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.ticket_messages
    ADD CONSTRAINT ticket_messages_ticket_id_fkey FOREIGN KEY (ticket_id) REFERENCES public.tickets(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.tickets
    ADD CONSTRAINT tickets_client_id_fkey FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.tickets
    ADD CONSTRAINT tickets_contact_id_fkey FOREIGN KEY (contact_id) REFERENCES public.contacts(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.tickets
    ADD CONSTRAINT tickets_department_id_fkey FOREIGN KEY (department_id) REFERENCES public.ticket_departments(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.transactions
    ADD CONSTRAINT transactions_currency_fkey FOREIGN KEY (currency) REFERENCES public.currencies(code);

ALTER TABLE ONLY public.transactions
    ADD CONSTRAINT transactions_gateway_fkey FOREIGN KEY (gateway) REFERENCES public.payment_gateways(name);

ALTER TABLE ONLY public.transactions
    ADD CONSTRAINT transactions_invoice_id_fkey FOREIGN KEY (invoice_id) REFERENCES public.invoices(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.transactions
    ADD CONSTRAINT transactions_refund_of_fkey FOREIGN KEY (refund_of) REFERENCES public.transactions(id);
