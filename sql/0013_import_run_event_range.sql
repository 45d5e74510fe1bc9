-- Where an applied run's events are in the log: those of sequence in (events_after,
-- events_through]. The run wrote them holding the event log's lock, so no one else's are in
-- between. A revert reads them as a range of `events_account_sequence` instead of reading
-- every event of the account to find the run's. NULL for runs recorded before this
-- migration (read the old way) and for runs that applied nothing.
ALTER TABLE import_runs ADD COLUMN events_after bigint;
ALTER TABLE import_runs ADD COLUMN events_through bigint;
