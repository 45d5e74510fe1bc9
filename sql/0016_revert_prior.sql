-- The fields a run overwrote, with the values they had before it: the revert's target for an
-- object still at the version the run wrote (store/sql/plan_revert.sql). `previous` is the
-- run's first previous_attributes of the object; bookkeeping keys are not restored. A key
-- missing from `current` equals a JSON null.
CREATE FUNCTION prior(current jsonb, previous jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
SELECT coalesce(jsonb_object_agg(p.key, p.value), '{}'::jsonb)
FROM jsonb_each(CASE WHEN jsonb_typeof(previous) = 'object' THEN previous ELSE '{}' END) p
WHERE p.key NOT IN ('id', 'object', 'version', 'created', 'updated', 'livemode')
  AND coalesce(current -> p.key, 'null'::jsonb) IS DISTINCT FROM p.value
$$;
