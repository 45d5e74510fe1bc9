-- A source's snapshot in chunks of at most a million keys, one compressed Arrow IPC value
-- each, instead of one value: a first import read in pieces writes each part's prints as it
-- is written, so its memory does not grow with the file, and a reader fetches one chunk at a
-- time. `import_snapshots` keeps the header (rules, watermark, the run's events); the
-- deferred key lets a run write its chunks before the header, in the same transaction.
CREATE TABLE import_snapshot_chunks (
    account_id text NOT NULL,
    source text NOT NULL,
    chunk integer NOT NULL,         -- 0, 1, ...: the chunks in the order they were taken
    products bigint NOT NULL,       -- keys in `data`
    data bytea NOT NULL,            -- Arrow IPC, zstd: external_id, fingerprint, product_id, prices, items
    PRIMARY KEY (account_id, source, chunk),
    FOREIGN KEY (account_id, source) REFERENCES import_snapshots (account_id, source)
        ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);
ALTER TABLE import_snapshot_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

INSERT INTO import_snapshot_chunks (account_id, source, chunk, products, data)
SELECT account_id, source, 0, products, data FROM import_snapshots;

ALTER TABLE import_snapshots DROP COLUMN data;
COMMENT ON COLUMN import_snapshots.products IS 'keys in all of the source''s chunks';
