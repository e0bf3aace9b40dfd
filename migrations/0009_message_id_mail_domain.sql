-- migrate:up
-- A Message-ID names the installation's own mail domain (MAIL_DOMAIN), not a made-up one:
-- the application sets `clientdesk.mail_domain` on each of its database connections, and a
-- connection without it (psql, a one-off script) still gets a valid id. The id is made once,
-- when the row is written, so every resend of that email carries the same one.
ALTER TABLE emails
    ALTER COLUMN message_id SET DEFAULT
        '<' || replace(gen_random_uuid()::text, '-', '') || '@'
        || coalesce(nullif(current_setting('clientdesk.mail_domain', true), ''), 'clientdesk')
        || '>';
