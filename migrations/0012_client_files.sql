-- migrate:up
-- Files staff attach to a client (SPEC 6). The bytes live in ATTACHMENTS_DIR under
-- `stored_name`, a name we generate; `filename` is the uploader's name, cleaned, for display
-- and downloads only. Merging and deleting clients move or remove these rows (and bytes).
CREATE TABLE client_files (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id     bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    title         text NOT NULL CHECK (title <> ''),
    filename      text NOT NULL CHECK (filename <> ''),
    stored_name   text NOT NULL UNIQUE CHECK (stored_name ~ '^[0-9a-f]{32}$'),
    content_type  text NOT NULL,
    size          bigint NOT NULL CHECK (size >= 0),
    admin_only    boolean NOT NULL DEFAULT false,
    uploaded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX client_files_client ON client_files (client_id, id);
