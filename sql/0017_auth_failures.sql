-- Failed API key checks per client address, shared by every API server process, so that the
-- limit on them (api/auth_failures.py) holds however many workers serve the API. Unlogged:
-- a crash may forget the recent failures, which only lifts a temporary block early.
CREATE UNLOGGED TABLE auth_failures (
    address   text        NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX auth_failures_address ON auth_failures (address, failed_at);
CREATE INDEX auth_failures_failed_at ON auth_failures (failed_at);
