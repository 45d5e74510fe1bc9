-- Uploaded files (POST /v1/files) and the import runs the API starts and reverts
-- (docs/imports-api.md).

-- The bytes live on disk under a per-account folder (`path`, relative to the files root);
-- only the metadata is here. Rows and files are removed once `expires_at` has passed.
CREATE TABLE files (
    id         text PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts (id),
    purpose    text NOT NULL CHECK (purpose IN ('catalog_import')),
    filename   text,
    size       bigint NOT NULL CHECK (size >= 0),
    type       text NOT NULL CHECK (type IN ('csv', 'jsonl')),
    path       text NOT NULL,
    created    timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX files_account_created ON files (account_id, created DESC);
CREATE INDEX files_expires_at ON files (expires_at);

-- An API run is recorded `queued` when it is requested (the importer makes it `running`
-- when a worker starts it); an API dry run is kept too (`previewed`), and a revert is itself
-- a run (`mode = 'revert'`, `reverts` = the run it undid, which points back through
-- `reverted_by`).
ALTER TABLE import_runs DROP CONSTRAINT import_runs_status_check;
ALTER TABLE import_runs ADD CONSTRAINT import_runs_status_check
    CHECK (status IN ('queued', 'running', 'applied', 'previewed', 'refused', 'failed',
                      'abandoned'));
ALTER TABLE import_runs DROP CONSTRAINT import_runs_mode_check;
ALTER TABLE import_runs ADD CONSTRAINT import_runs_mode_check
    CHECK (mode IN ('full', 'incremental', 'revert'));
ALTER TABLE import_runs ALTER COLUMN finished DROP NOT NULL;
ALTER TABLE import_runs
    ADD COLUMN trigger     text,  -- api, revert, ...; NULL for runs recorded before 0008
    ADD COLUMN file_id     text,
    ADD COLUMN reverts     text,
    ADD COLUMN reverted_by text,
    ADD COLUMN changes     jsonb,
    ADD COLUMN progress    jsonb;  -- {"stage", "fraction"} while running
-- Lists are newest first with keyset cursors.
CREATE INDEX import_runs_account_started ON import_runs (account_id, started DESC, id DESC);
-- A run may be reverted once: at most one revert names it.
CREATE UNIQUE INDEX import_runs_reverts ON import_runs (reverts) WHERE reverts IS NOT NULL;
