-- A lean created event's old state is frozen as a copy of the row, not as built JSON.
--
-- sql/0009 froze each object's state by building its created event's JSON when the row first
-- changed, after finding the event. That cost about 26 ms per 1,000 objects, most of a first
-- change's price after a bulk import; copying the row costs about 7 ms. The JSON is built when
-- the event is read, from the frozen row, by the same function that builds it from the live
-- row, so the payload is the same byte for byte (tests/integration/test_event_payloads_golden.py).
--
-- Every row at version 1 is copied on its first change, whether its created event is lean or
-- not (an API-created object's event carries its JSON; its copy is then never read): looking
-- the event up first cost more than the copy. States frozen by sql/0009 stay in event_objects
-- and are still read first.
--
-- The frozen tables have the catalog tables' columns, in their order: a migration that
-- changes a catalog table's columns changes its frozen table the same way
-- (tests/integration/test_migrations.py checks that they match).

CREATE TABLE frozen_products (LIKE products);
ALTER TABLE frozen_products ADD PRIMARY KEY (id);
CREATE TABLE frozen_prices (LIKE prices);
ALTER TABLE frozen_prices ADD PRIMARY KEY (id);
CREATE TABLE frozen_inventory_items (LIKE inventory_items);
ALTER TABLE frozen_inventory_items ADD PRIMARY KEY (id);

CREATE FUNCTION freeze_first_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- lean events are created events, at version 1: a row past it has nothing to freeze
    EXECUTE format(
        'INSERT INTO %I SELECT * FROM old_rows WHERE version = 1 ON CONFLICT (id) DO NOTHING',
        TG_ARGV[0]);
    RETURN NULL;
END $$;

DO $$
DECLARE
    t text;
    op text;
BEGIN
    FOREACH t IN ARRAY ARRAY['products', 'prices', 'inventory_items'] LOOP
        -- the app role may only read and append them (store/migrations.py APPEND_ONLY)
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I'
                       ' FOR EACH ROW EXECUTE FUNCTION forbid_event_changes()',
                       'frozen_' || t || '_append_only_rows', 'frozen_' || t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION forbid_event_changes()',
                       'frozen_' || t || '_append_only_truncate', 'frozen_' || t);
        FOREACH op IN ARRAY ARRAY['update', 'delete'] LOOP
            EXECUTE format('DROP TRIGGER %I ON %I', t || '_freeze_on_' || op, t);
            EXECUTE format(
                'CREATE TRIGGER %I AFTER %s ON %I REFERENCING OLD TABLE AS old_rows'
                ' FOR EACH STATEMENT EXECUTE FUNCTION freeze_first_versions(%L)',
                t || '_freeze_on_' || op, upper(op), t, 'frozen_' || t);
        END LOOP;
    END LOOP;
END $$;

DROP FUNCTION freeze_lean_events();

-- An event's `data` as stored, or built for a lean event: from its state frozen as JSON
-- (sql/0009), as a row (above), or from the live row while it is still at the event's version.
CREATE OR REPLACE FUNCTION event_data(e events) RETURNS json LANGUAGE sql STABLE AS $$
SELECT CASE
    WHEN e.data IS NOT NULL THEN e.data
    ELSE coalesce(
        (SELECT o.data FROM event_objects o WHERE o.event_sequence = e.sequence),
        CASE e.object_type
            WHEN 'product' THEN coalesce(
                (SELECT product_created_data(ROW(f.*)::products) FROM frozen_products f
                 WHERE f.id = e.object_id AND f.version = e.object_version),
                (SELECT product_created_data(p) FROM products p
                 WHERE p.id = e.object_id AND p.version = e.object_version))
            WHEN 'price' THEN coalesce(
                (SELECT price_created_data(ROW(f.*)::prices) FROM frozen_prices f
                 WHERE f.id = e.object_id AND f.version = e.object_version),
                (SELECT price_created_data(p) FROM prices p
                 WHERE p.id = e.object_id AND p.version = e.object_version))
            WHEN 'inventory_item' THEN coalesce(
                (SELECT inventory_item_created_data(ROW(f.*)::inventory_items)
                 FROM frozen_inventory_items f
                 WHERE f.id = e.object_id AND f.version = e.object_version),
                (SELECT inventory_item_created_data(i) FROM inventory_items i
                 WHERE i.id = e.object_id AND i.version = e.object_version))
        END)
END
$$;
