-- One freeze function for the three tables instead of three copies (sql/0009). Each trigger
-- names the function that builds its table's created-event data; the statement is the one the
-- copies ran, planned once per firing statement, as before (the transition table is only
-- visible inside the trigger, so the statement cannot be prepared ahead).
CREATE FUNCTION freeze_lean_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'INSERT INTO event_objects (event_sequence, data)'
        ' SELECT e.sequence, %I(o)'
        ' FROM old_rows o JOIN events e ON e.account_id = o.account_id'
        '     AND e.object_id = o.id AND e.object_version = o.version'
        -- lean events are created events, at version 1: a row past it has nothing to freeze
        ' WHERE o.version = 1 AND e.data IS NULL'
        ' ON CONFLICT (event_sequence) DO NOTHING',
        TG_ARGV[0]);
    RETURN NULL;
END $$;

-- The same triggers, on the new function. A trigger with transition tables may name one event
-- only: one for UPDATE, one for DELETE.
DO $$
DECLARE
    t record;
    op text;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('products', 'product'), ('prices', 'price'),
                                   ('inventory_items', 'inventory_item')) v (tbl, kind) LOOP
        FOREACH op IN ARRAY ARRAY['update', 'delete'] LOOP
            EXECUTE format('DROP TRIGGER %I ON %I', t.tbl || '_freeze_on_' || op, t.tbl);
            EXECUTE format(
                'CREATE TRIGGER %I AFTER %s ON %I REFERENCING OLD TABLE AS old_rows'
                ' FOR EACH STATEMENT EXECUTE FUNCTION freeze_lean_events(%L)',
                t.tbl || '_freeze_on_' || op, upper(op), t.tbl, t.kind || '_created_data');
        END LOOP;
        EXECUTE format('DROP FUNCTION freeze_%s_events()', t.kind);
    END LOOP;
END $$;
