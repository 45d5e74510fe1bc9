-- A snapshot's chunks split by key range (the xxh3 of the key modulo `key_ranges`), so a
-- re-import compares one range of the file with the same range of the snapshot and never
-- holds all of either. A snapshot saved before this has one range, holding every chunk.
ALTER TABLE import_snapshots ADD COLUMN key_ranges integer NOT NULL DEFAULT 1;
ALTER TABLE import_snapshot_chunks ADD COLUMN key_range integer NOT NULL DEFAULT 0;
CREATE INDEX import_snapshot_chunks_range
    ON import_snapshot_chunks (account_id, source, key_range, chunk);
COMMENT ON COLUMN import_snapshots.key_ranges IS 'ranges its keys are split in (sql/0015)';
