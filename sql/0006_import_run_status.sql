-- Import runs are recorded from their start (`running`), so an attempt that fails or is
-- killed still leaves a row (docs/import-failures.md):
--   running   the run has started and not finished (or its process died: see abandoned);
--   failed    it stopped on an error; nothing of it was written, `error` says why;
--   abandoned its process died while running; the next run of its source marks it so.
-- backend_pid/backend_start identify the database session of the run, so the next run can
-- tell a live run (its session still exists) from a dead one.
ALTER TABLE import_runs DROP CONSTRAINT import_runs_status_check;
ALTER TABLE import_runs ADD CONSTRAINT import_runs_status_check
    CHECK (status IN ('running', 'applied', 'refused', 'failed', 'abandoned'));
ALTER TABLE import_runs ADD COLUMN backend_pid integer;
ALTER TABLE import_runs ADD COLUMN backend_start timestamptz;
CREATE INDEX import_runs_running ON import_runs (account_id, source) WHERE status = 'running';
