-- events_account_object (0003) indexed (account_id, object_id, sequence) for the log filtered
-- by object. The unique (object_id, object_version) index of 0001 serves those queries as
-- well: an object has a handful of events, which the planner fetches and sorts (EXPLAIN of
-- /v1/events?object_id=, revert's latest cause and product versions, docs/performance.md).
-- Dropping it saves the widest of the log's five index entries: three per row of an
-- initial import.
DROP INDEX IF EXISTS events_account_object;
