-- The event log lock check (0023) also catches an append made inside a savepoint.
--
-- When the lock is not held, 0023 asked whether the session's last appended event was inserted
-- by this transaction, comparing its xmin with the top-level transaction id. A row inserted
-- inside a savepoint carries the subtransaction's id instead, so a bare append there passed.
-- Every transaction id of this backend's transaction tree, a released savepoint's included,
-- holds a `transactionid` lock until the top-level transaction ends: looking the row's xmin up
-- among them catches both. A rolled-back savepoint's rows are invisible, so they pass, as they
-- should: nothing of them is kept.

CREATE OR REPLACE FUNCTION events_require_log_lock() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_sequence bigint;
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND classid = 0 AND objid = 7413100 AND objsubid = 1
    ) THEN
        RETURN NULL;
    END IF;
    BEGIN
        last_sequence := currval(pg_get_serial_sequence('events', 'sequence'));
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        RETURN NULL;  -- this session never appended an event
    END;
    IF EXISTS (
        SELECT 1 FROM events e
        JOIN pg_locks l ON l.locktype = 'transactionid' AND l.pid = pg_backend_pid()
                       AND l.granted AND l.transactionid = e.xmin
        WHERE e.sequence = last_sequence
    ) THEN
        RAISE EXCEPTION 'events were appended without the event log lock'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'take pg_advisory_xact_lock(7413100) in the same transaction before'
                         ' inserting into events, and commit promptly: readers follow the log'
                         ' by sequence';
    END IF;
    RETURN NULL;
END $$;
