-- The Dagster run that ran an import (NULL for CLI, API and dashboard runs), so the dashboard
-- can link a run to its page in the Dagster UI (docs/dashboard.md, CATALOG_DAGSTER_UI_URL).
-- `trigger` (0008) is now also set by the CLI (`cli`) and by Dagster (the run's
-- `catalog-sync/trigger` tag: inbox, nightly_reconciliation, demo; else `dagster`).
ALTER TABLE import_runs ADD COLUMN dagster_run_id text;
