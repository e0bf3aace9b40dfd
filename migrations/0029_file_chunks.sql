-- migrate:up
-- The bytes of client files when FILE_STORAGE is `postgres` (the default): every API host
-- reads the same database, and one backup holds the files with their rows. A file is its
-- chunks of at most 256 KiB in `seq` order, written while the upload is read and served one
-- at a time, so neither holds a whole file in memory. Keyed by the file's `stored_name`, not
-- its id: the bytes are stored before the row that names them (as in the other stores), and
-- `clientdesk move-files` fills them in for rows that already exist. An empty file has one
-- empty chunk, so that "no chunks" always means "its bytes are missing".
CREATE TABLE file_chunks (
    stored_name text NOT NULL CHECK (stored_name ~ '^[0-9a-f]{32}$'),
    seq         integer NOT NULL CHECK (seq >= 0),
    data        bytea NOT NULL CHECK (length(data) <= 262144),
    PRIMARY KEY (stored_name, seq)
);
-- Out of line and uncompressed: uploads are mostly compressed already (PDFs, images,
-- archives), so PostgreSQL's attempt to compress each chunk would only cost CPU.
ALTER TABLE file_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
