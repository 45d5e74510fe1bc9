-- Lean `*.created` events for bulk imports (docs/performance.md, "What an import writes").
--
-- An import's created event used to carry the whole new object, the same JSON the catalog row
-- already holds: an initial import sent and stored every object twice. Now an import may write
-- a created event with data = NULL; its `data` is built when read by `event_data(e)`, from
--   1. the object's frozen state in `event_objects`, once the row has changed since, or
--   2. the row itself, while it is still at the event's version.
-- Triggers keep (1) complete: before a row leaves the state such an event describes (any
-- UPDATE or DELETE of it), its old state is stored, once. So every event reads the same
-- JSON, with the same keys in the same order, as when the full object was stored. Events
-- written before this migration, and all other events, keep their stored `data`.

ALTER TABLE events ALTER COLUMN data DROP NOT NULL;

-- The frozen state of a lean event's object (`{"object": ...}`), keyed by the event. The app
-- role may only read and append (store/migrations.py APPEND_ONLY), like the log itself.
CREATE TABLE event_objects (
    event_sequence bigint PRIMARY KEY,
    data           json NOT NULL,
    created        timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER event_objects_append_only_rows BEFORE UPDATE OR DELETE ON event_objects
    FOR EACH ROW EXECUTE FUNCTION forbid_event_changes();
CREATE TRIGGER event_objects_append_only_truncate BEFORE TRUNCATE ON event_objects
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_event_changes();

-- The object JSON an import's created event carried, key for key in the order store/bulk.py
-- wrote it (API and webhook payloads keep their key order). Metadata keys are in code-point
-- order, as the import sorted them; the row's jsonb keeps them in its own order.
CREATE FUNCTION kv_json_sorted(m jsonb) RETURNS json LANGUAGE sql IMMUTABLE AS $$
SELECT coalesce(json_object_agg(e.key, e.value ORDER BY e.key COLLATE "C"), '{}'::json)
FROM jsonb_each(m) e
$$;

CREATE FUNCTION product_created_data(p products) RETURNS json LANGUAGE sql STABLE AS $$
SELECT json_build_object('object', json_build_object(
    'id', p.id, 'object', 'product', 'active', p.active, 'name', p.name,
    'description', p.description, 'images', p.images, 'url', p.url,
    'shippable', p.shippable, 'tax_code', p.tax_code, 'unit_label', p.unit_label,
    'package_dimensions', p.package_dimensions, 'default_price', p.default_price,
    'updated', epoch(p.updated), 'external_id', p.external_id, 'created', epoch(p.created),
    'version', p.version, 'source', p.source, 'livemode', false,
    'metadata', kv_json_sorted(p.metadata)))
$$;

CREATE FUNCTION price_created_data(p prices) RETURNS json LANGUAGE sql STABLE AS $$
SELECT json_build_object('object', json_build_object(
    'id', p.id, 'object', 'price', 'product', p.product_id, 'active', p.active,
    'currency', p.currency, 'unit_amount', p.unit_amount,
    'unit_amount_decimal', p.unit_amount::text, 'type', p.type, 'recurring', p.recurring,
    'lookup_key', p.lookup_key, 'nickname', p.nickname, 'billing_scheme', 'per_unit',
    'tax_behavior', 'unspecified', 'created', epoch(p.created), 'version', p.version,
    'source', p.source, 'livemode', false, 'metadata', kv_json_sorted(p.metadata)))
$$;

CREATE FUNCTION inventory_item_created_data(i inventory_items) RETURNS json LANGUAGE sql STABLE AS $$
SELECT json_build_object('object', json_build_object(
    'id', i.id, 'object', 'inventory_item', 'sku', i.sku, 'product', i.product_id,
    'price', i.price_id, 'quantity', i.quantity, 'policy', i.policy, 'version', i.version,
    'created', epoch(i.created), 'updated', epoch(i.updated), 'source', i.source))
$$;

-- An event's `data` as stored, or built for a lean event (see the top of this file).
CREATE FUNCTION event_data(e events) RETURNS json LANGUAGE sql STABLE AS $$
SELECT CASE
    WHEN e.data IS NOT NULL THEN e.data
    ELSE coalesce(
        (SELECT o.data FROM event_objects o WHERE o.event_sequence = e.sequence),
        CASE e.object_type
            WHEN 'product' THEN (SELECT product_created_data(p) FROM products p
                                 WHERE p.id = e.object_id AND p.version = e.object_version)
            WHEN 'price' THEN (SELECT price_created_data(p) FROM prices p
                               WHERE p.id = e.object_id AND p.version = e.object_version)
            WHEN 'inventory_item' THEN (SELECT inventory_item_created_data(i) FROM inventory_items i
                                        WHERE i.id = e.object_id AND i.version = e.object_version)
        END)
END
$$;

-- Freeze the old state of changed or deleted rows whose current version is a lean event.
-- Statement-level with transition tables: one set-wise insert per statement, so an import
-- that updates 10k rows pays one join, not 10k trigger calls.
CREATE FUNCTION freeze_product_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_objects (event_sequence, data)
    SELECT e.sequence, product_created_data(o)
    FROM old_rows o JOIN events e
        ON e.account_id = o.account_id AND e.object_id = o.id AND e.object_version = o.version
    -- Lean events are created events, at version 1: a row past it has nothing to freeze, so
    -- a stock adjust of a hot SKU looks at no event at all.
    WHERE o.version = 1 AND e.data IS NULL
    ON CONFLICT (event_sequence) DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION freeze_price_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_objects (event_sequence, data)
    SELECT e.sequence, price_created_data(o)
    FROM old_rows o JOIN events e
        ON e.account_id = o.account_id AND e.object_id = o.id AND e.object_version = o.version
    -- Lean events are created events, at version 1: a row past it has nothing to freeze, so
    -- a stock adjust of a hot SKU looks at no event at all.
    WHERE o.version = 1 AND e.data IS NULL
    ON CONFLICT (event_sequence) DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION freeze_inventory_item_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_objects (event_sequence, data)
    SELECT e.sequence, inventory_item_created_data(o)
    FROM old_rows o JOIN events e
        ON e.account_id = o.account_id AND e.object_id = o.id AND e.object_version = o.version
    -- Lean events are created events, at version 1: a row past it has nothing to freeze, so
    -- a stock adjust of a hot SKU looks at no event at all.
    WHERE o.version = 1 AND e.data IS NULL
    ON CONFLICT (event_sequence) DO NOTHING;
    RETURN NULL;
END $$;

-- A trigger with transition tables may name one event only: one for UPDATE, one for DELETE.
CREATE TRIGGER products_freeze_on_update AFTER UPDATE ON products
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION freeze_product_events();
CREATE TRIGGER products_freeze_on_delete AFTER DELETE ON products
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION freeze_product_events();
CREATE TRIGGER prices_freeze_on_update AFTER UPDATE ON prices
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION freeze_price_events();
CREATE TRIGGER prices_freeze_on_delete AFTER DELETE ON prices
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION freeze_price_events();
CREATE TRIGGER inventory_items_freeze_on_update AFTER UPDATE ON inventory_items
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION freeze_inventory_item_events();
CREATE TRIGGER inventory_items_freeze_on_delete AFTER DELETE ON inventory_items
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION freeze_inventory_item_events();

-- Versions read through event_data too (same columns, same types).
CREATE OR REPLACE VIEW object_versions AS
SELECT e.account_id, e.object_type, e.object_id, e.object_version AS version,
       event_data(e) -> 'object' AS state, e.data -> 'previous_attributes' AS previous_attributes,
       e.created, e.sequence, e.id AS event_id, e.source, e.run_id
FROM events e;

-- lz4 compresses and decompresses JSON several times faster than the default pglz. Only
-- servers built with lz4 offer it (the embedded one is not), so it is applied where available;
-- it only changes how values over ~2 kB are stored from now on.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE events ALTER COLUMN data SET COMPRESSION lz4;
        ALTER TABLE event_objects ALTER COLUMN data SET COMPRESSION lz4;
        ALTER TABLE products ALTER COLUMN description SET COMPRESSION lz4;
        ALTER TABLE products ALTER COLUMN images SET COMPRESSION lz4;
        ALTER TABLE products ALTER COLUMN metadata SET COMPRESSION lz4;
        ALTER TABLE prices ALTER COLUMN metadata SET COMPRESSION lz4;
    END IF;
END $$;
