-- One index for one object's events instead of two. The unique (object_id, object_version)
-- key already lists an object's events in log order: its versions are written one at a time,
-- under the object's row lock, so a higher version always has a higher sequence. Queries for
-- one object order by object_version (store/reads.py, plan_revert.sql), and the
-- (account_id, object_id, sequence) index, which every event written had to update too, goes.
DROP INDEX events_account_object;
