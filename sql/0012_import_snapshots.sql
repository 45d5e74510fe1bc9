-- What each source's last import saw: one fingerprint per product key of its file
-- (catalog_pipelines/fingerprints.py), so the next import of the same rows parses, validates
-- and diffs only what moved. One row per source, replaced by each applied run: the prints
-- travel as one compressed Arrow IPC value, read and written in one round trip, instead of a
-- million rows rewritten per run. It is a cache, never the truth: a snapshot that is missing,
-- taken under other rules (`salt`), or outdated by a later event simply is not used.
CREATE TABLE import_snapshots (
    account_id text NOT NULL,
    source text NOT NULL,
    run_id text NOT NULL,          -- the run that wrote it; its own events do not outdate it
    salt text NOT NULL,            -- digest of the rules the prints were taken under
    watermark bigint NOT NULL,     -- events.sequence seen before that run read the catalog
    own_from bigint NOT NULL,      -- that run's own events are those in (own_from, own_to]:
    own_to bigint NOT NULL,        -- it wrote them holding the event log's lock
    products bigint NOT NULL,      -- keys in `data`, for people reading the table
    data bytea NOT NULL,           -- Arrow IPC, zstd: external_id, fingerprint, product_id, prices, items
    updated timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, source)
);
-- Already compressed: do not try again.
ALTER TABLE import_snapshots ALTER COLUMN data SET STORAGE EXTERNAL;
