-- An import's product.updated and price.updated events store no JSON either.
--
-- sql/0009 and sql/0021 made an import's created events lean: the object is built from its
-- row when the event is read. An import's update events still stored the new object and its
-- previous_attributes, built in SQL for every changed row: 0.43-0.58 s for 10,000 updated
-- products, 0.25-0.31 s without (BENCHMARKS.md), and about 1 kB a row.
--
-- Now every version of a product or price is frozen when its row changes, not only version 1,
-- so an update event's two states are always found: the old one frozen, the new one live or
-- frozen. The event is built from them by the expressions the import stored it with, so it
-- reads the same, key for key (tests/integration/test_event_payloads_golden.py and
-- test_import_previous_attributes.py). Events stored before this migration keep their
-- JSON and read as before. Stock items keep version 1 only: the API changes them on every sale
-- (inventory_item.updated events of the API and of imports carry their JSON, as before).

ALTER TABLE frozen_products DROP CONSTRAINT frozen_products_pkey, ADD PRIMARY KEY (id, version);
ALTER TABLE frozen_prices DROP CONSTRAINT frozen_prices_pkey, ADD PRIMARY KEY (id, version);

-- One freeze for every table: every old row (products, prices), or with a second argument
-- only rows at version 1 (stock items, as sql/0021 froze every table).
CREATE FUNCTION freeze_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- a version changed twice without a new version (a lookup key freed, then the price
    -- updated) keeps the state it had first, which its event describes
    EXECUTE format(
        'INSERT INTO %I SELECT * FROM old_rows %s ON CONFLICT DO NOTHING',
        TG_ARGV[0], CASE WHEN TG_NARGS > 1 THEN 'WHERE version = 1' ELSE '' END);
    RETURN NULL;
END $$;

DO $$
DECLARE
    t text;
    op text;
BEGIN
    FOREACH t IN ARRAY ARRAY['products', 'prices', 'inventory_items'] LOOP
        FOREACH op IN ARRAY ARRAY['update', 'delete'] LOOP
            EXECUTE format('DROP TRIGGER %I ON %I', t || '_freeze_on_' || op, t);
            EXECUTE format(
                'CREATE TRIGGER %I AFTER %s ON %I REFERENCING OLD TABLE AS old_rows'
                ' FOR EACH STATEMENT EXECUTE FUNCTION freeze_versions(%L%s)',
                t || '_freeze_on_' || op, upper(op), t, 'frozen_' || t,
                CASE WHEN t = 'inventory_items' THEN ', ''first''' ELSE '' END);
        END LOOP;
    END LOOP;
END $$;

DROP FUNCTION freeze_first_versions();

-- A product or price as it was at a version: frozen once it moved on, else its live row (all
-- NULL when neither exists). In PL/pgSQL, whose plans are kept for the session: a revert
-- planned a million update events in 33 s with these, 42 s with SQL functions.
CREATE FUNCTION product_at(id text, version integer) RETURNS products
LANGUAGE plpgsql STABLE AS $$
DECLARE
    state products;
BEGIN
    SELECT f.* INTO state FROM frozen_products f WHERE f.id = $1 AND f.version = $2;
    IF NOT FOUND THEN
        SELECT p.* INTO state FROM products p WHERE p.id = $1 AND p.version = $2;
    END IF;
    RETURN state;
END $$;

CREATE FUNCTION price_at(id text, version integer) RETURNS prices
LANGUAGE plpgsql STABLE AS $$
DECLARE
    state prices;
BEGIN
    SELECT f.* INTO state FROM frozen_prices f WHERE f.id = $1 AND f.version = $2;
    IF NOT FOUND THEN
        SELECT p.* INTO state FROM prices p WHERE p.id = $1 AND p.version = $2;
    END IF;
    RETURN state;
END $$;

-- previous_attributes of an update from `o` to `n`: a changed() (sql/0019) for every key of
-- the object (sql/0001) but id, version and updated, as the import built it before this
-- migration. It equals previous_attributes(old object, new object) without building either.
CREATE FUNCTION product_previous(o products, n products) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT changed('active', o.active, n.active) || changed('name', o.name, n.name) ||
       changed('description', o.description, n.description) ||
       changed('images', o.images, n.images) || changed('metadata', o.metadata, n.metadata) ||
       changed('url', o.url, n.url) || changed('shippable', o.shippable, n.shippable) ||
       changed('tax_code', o.tax_code, n.tax_code) ||
       changed('unit_label', o.unit_label, n.unit_label) ||
       changed('package_dimensions', o.package_dimensions, n.package_dimensions) ||
       changed('default_price', o.default_price, n.default_price) ||
       changed('created', epoch(o.created), epoch(n.created)) ||
       changed('source', o.source, n.source) ||
       changed('external_id', o.external_id, n.external_id)
$$;

CREATE FUNCTION price_previous(o prices, n prices) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT changed('product', o.product_id, n.product_id) ||
       changed('active', o.active, n.active) || changed('currency', o.currency, n.currency) ||
       changed('unit_amount', o.unit_amount, n.unit_amount) ||
       changed('unit_amount_decimal', o.unit_amount::text, n.unit_amount::text) ||
       changed('type', o.type, n.type) || changed('recurring', o.recurring, n.recurring) ||
       changed('lookup_key', o.lookup_key, n.lookup_key) ||
       changed('nickname', o.nickname, n.nickname) ||
       changed('metadata', o.metadata, n.metadata) ||
       changed('created', epoch(o.created), epoch(n.created)) ||
       changed('source', o.source, n.source)
$$;

-- An event's `data` as stored, or built for a lean event. In PL/pgSQL, which keeps each
-- statement's plan for the session: as a SQL function (never inlined: it has subqueries) it
-- took 0.46 ms an update event; this takes about 0.04 ms.
CREATE OR REPLACE FUNCTION event_data(e events) RETURNS json LANGUAGE plpgsql STABLE AS $$
DECLARE
    frozen json;
    product products;
    price prices;
    item inventory_items;
BEGIN
    IF e.data IS NOT NULL THEN
        RETURN e.data;
    ELSIF e.type = 'product.updated' THEN
        product := product_at(e.object_id, e.object_version);
        RETURN jsonb_build_object(
            'object', product_object(product),
            'previous_attributes',
            product_previous(product_at(e.object_id, e.object_version - 1), product))::json;
    ELSIF e.type = 'price.updated' THEN
        price := price_at(e.object_id, e.object_version);
        RETURN jsonb_build_object(
            'object', price_object(price),
            'previous_attributes',
            price_previous(price_at(e.object_id, e.object_version - 1), price))::json;
    END IF;
    -- a created event: its state frozen as JSON (sql/0009), as a row (sql/0021), or live
    SELECT o.data INTO frozen FROM event_objects o WHERE o.event_sequence = e.sequence;
    IF frozen IS NOT NULL THEN
        RETURN frozen;
    ELSIF e.object_type = 'product' THEN
        product := product_at(e.object_id, e.object_version);
        IF product.id IS NOT NULL THEN
            RETURN product_created_data(product);
        END IF;
    ELSIF e.object_type = 'price' THEN
        price := price_at(e.object_id, e.object_version);
        IF price.id IS NOT NULL THEN
            RETURN price_created_data(price);
        END IF;
    ELSIF e.object_type = 'inventory_item' THEN
        SELECT f.* INTO item FROM frozen_inventory_items f
        WHERE f.id = e.object_id AND f.version = e.object_version;
        IF NOT FOUND THEN
            SELECT i.* INTO item FROM inventory_items i
            WHERE i.id = e.object_id AND i.version = e.object_version;
        END IF;
        IF FOUND THEN
            RETURN inventory_item_created_data(item);
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- An event's previous_attributes, without building the object beside them.
CREATE FUNCTION event_previous_attributes(e events) RETURNS json LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF e.data IS NOT NULL THEN
        RETURN e.data -> 'previous_attributes';
    ELSIF e.type = 'product.updated' THEN
        RETURN product_previous(product_at(e.object_id, e.object_version - 1),
                                product_at(e.object_id, e.object_version))::json;
    ELSIF e.type = 'price.updated' THEN
        RETURN price_previous(price_at(e.object_id, e.object_version - 1),
                              price_at(e.object_id, e.object_version))::json;
    END IF;
    RETURN NULL;  -- a lean created event has none
END $$;

CREATE OR REPLACE VIEW object_versions AS
SELECT e.account_id, e.object_type, e.object_id, e.object_version AS version,
       event_data(e) -> 'object' AS state, event_previous_attributes(e) AS previous_attributes,
       e.created, e.sequence, e.id AS event_id, e.source, e.run_id
FROM events e;
