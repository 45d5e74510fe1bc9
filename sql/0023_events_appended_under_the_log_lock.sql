-- Every append to the event log holds the log's lock: the database refuses one that does not.
--
-- Readers follow the log by `sequence > cursor` (webhook delivery, the API's event pages, an
-- import's own events). That never skips an event only because appends are serialised: a
-- writer takes pg_advisory_xact_lock(7413100) before it inserts events and holds it to its
-- commit, so transactions become visible in sequence order (catalog_pipelines/store/events.py).
-- Until now only the code kept that promise. A writer that forgot the lock (a new code path, a
-- hand-written fix-up) could commit sequence N after a reader had already moved past N + 1, and
-- that event would never be delivered.
--
-- The check runs once a statement, after it: an insert that takes the lock in its own CTE
-- (`WITH locked AS (SELECT pg_advisory_xact_lock(...)) INSERT ...`) holds it by then. A COPY
-- of an import's events is one statement per slice. The lock is looked up in pg_locks, which
-- lists this backend's advisory locks: an int8 key shows as classid (high 32 bits) 0, objid
-- (low 32 bits) 7413100, objsubid 1.
--
-- A statement that inserted no row need not hold the lock (a stock adjust that was refused
-- takes it only when it writes). A statement trigger does not see its statement's rows, and a
-- transition table would copy every row of a bulk append. So when the lock is not held, the
-- trigger looks at the last sequence this session allocated: if that event was inserted by
-- this transaction, events were appended without the lock. An append inside a savepoint has
-- its subtransaction's xid and is not caught.

CREATE FUNCTION events_require_log_lock() RETURNS trigger LANGUAGE plpgsql AS $$
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
        SELECT 1 FROM events
        WHERE sequence = last_sequence
          AND xmin = (txid_current_if_assigned() % 4294967296)::text::xid
    ) THEN
        RAISE EXCEPTION 'events were appended without the event log lock'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'take pg_advisory_xact_lock(7413100) in the same transaction before'
                         ' inserting into events, and commit promptly: readers follow the log'
                         ' by sequence';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER events_require_log_lock AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_require_log_lock();
