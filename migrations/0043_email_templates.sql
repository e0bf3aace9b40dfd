-- migrate:up
-- Staff's own versions of the built-in email templates (SPEC 15.3), one per template and
-- language. A row wins over the built-in file of its language when an email is rendered;
-- deleting it (revertEmailTemplate) brings the built-in back. The sources are checked when
-- saved, so the worker never meets a template that cannot be rendered. `html` null: the
-- email goes out as text only, so its two parts never say different things.
CREATE TABLE email_templates (
    name text NOT NULL,
    language text NOT NULL,
    subject text NOT NULL,
    text text NOT NULL,
    html text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, language)
);
