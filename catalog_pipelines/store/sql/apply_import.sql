-- The update/archive side of an import, from the stage_* temp tables (creates are COPYed by
-- store/bulk.py). store/imports.py runs these by name, in one transaction, with :account,
-- :source, :run_id and :now bound. Statements are separated by lines of "-- ;".
-- Each statement is driven by its stage table and probes the catalog by id. The account is
-- checked as `(x.account_id = :account) IS TRUE`, which no index can serve: right after a
-- bulk import the statistics say the account is small, and a plain `x.account_id = :account`
-- made the planner read every product of the account to find the few staged ones.
-- name: prev_products
INSERT INTO prev_products
SELECT p.* FROM products p JOIN stage_products s ON s.id = p.id
WHERE (p.account_id = :account) IS TRUE
FOR UPDATE OF p
-- ;
-- name: prev_prices
INSERT INTO prev_prices
SELECT p.* FROM prices p JOIN stage_prices s ON s.id = p.id
WHERE (p.account_id = :account) IS TRUE
FOR UPDATE OF p
-- ;
-- name: prev_inventory
INSERT INTO prev_inventory
SELECT i.* FROM inventory_items i JOIN stage_inventory s ON s.id = i.id
WHERE (i.account_id = :account) IS TRUE
FOR UPDATE OF i
-- ;
-- name: update_products
UPDATE products p SET
    active       = CASE WHEN s.set_content THEN s.active ELSE p.active END,
    name         = CASE WHEN s.set_content THEN s.content ->> 'name' ELSE p.name END,
    description  = CASE WHEN s.set_content THEN s.content ->> 'description' ELSE p.description END,
    images       = CASE WHEN s.set_content THEN s.content -> 'images' ELSE p.images END,
    metadata     = CASE WHEN s.set_content THEN kv_object(s.content -> 'metadata') ELSE p.metadata END,
    url          = CASE WHEN s.set_content THEN s.content ->> 'url' ELSE p.url END,
    shippable    = CASE WHEN s.set_content THEN (s.content ->> 'shippable')::boolean ELSE p.shippable END,
    tax_code     = CASE WHEN s.set_content THEN s.content ->> 'tax_code' ELSE p.tax_code END,
    unit_label   = CASE WHEN s.set_content THEN s.content ->> 'unit_label' ELSE p.unit_label END,
    content_hash = CASE WHEN s.set_content THEN s.content_hash ELSE p.content_hash END,
    -- the source that writes the content owns it from now on (docs/hybrid-sources.md)
    source       = CASE WHEN s.set_content THEN :source ELSE p.source END,
    default_price = s.default_price,
    version      = p.version + 1,
    updated      = :now
FROM stage_products s
WHERE s.id = p.id AND s.op = 'update' AND (p.account_id = :account) IS TRUE
-- ;
-- name: archive_products
UPDATE products p SET active = false, version = p.version + 1, updated = :now
FROM stage_products s
WHERE s.id = p.id AND s.op = 'archive' AND (p.account_id = :account) IS TRUE
-- ;
-- name: free_lookup_keys
-- The lookup keys (SKUs) the file moves from one of its prices to another are let go first:
-- update_prices sets its rows one at a time, and a key still held by the row it leaves would
-- collide with the unique index (two variants that swap SKUs, or SKUs passed along a chain).
UPDATE prices p SET lookup_key = NULL
FROM stage_prices s
WHERE s.id = p.id AND s.op = 'update' AND (p.account_id = :account) IS TRUE
  AND p.lookup_key IS DISTINCT FROM s.content ->> 'lookup_key' AND p.lookup_key IS NOT NULL
-- ;
-- name: retire_prices
UPDATE prices p SET active = false, lookup_key = NULL, replaced_by = s.replaced_by,
                    content_hash = s.content_hash, version = p.version + 1, updated = :now
FROM stage_prices s
WHERE s.id = p.id AND s.op = 'retire' AND (p.account_id = :account) IS TRUE
-- ;
-- name: update_prices
UPDATE prices p SET lookup_key = s.content ->> 'lookup_key',
                    active = s.active,
                    nickname = s.content ->> 'nickname',
                    metadata = kv_object(s.content -> 'metadata'),
                    content_hash = s.content_hash, version = p.version + 1, updated = :now
FROM stage_prices s
WHERE s.id = p.id AND s.op = 'update' AND (p.account_id = :account) IS TRUE
-- ;
-- name: archive_prices
UPDATE prices p SET active = false, version = p.version + 1, updated = :now
FROM stage_prices s
WHERE s.id = p.id AND s.op = 'archive' AND (p.account_id = :account) IS TRUE
-- ;
-- name: update_inventory
UPDATE inventory_items i SET quantity = s.quantity, policy = s.policy, price_id = s.price_id,
                             product_id = s.product_id, content_hash = s.content_hash,
                             source = CASE WHEN CAST(:claim_inventory AS boolean) THEN :source
                                           ELSE i.source END,
                             version = i.version + 1, updated = :now
FROM stage_inventory s
WHERE s.id = i.id AND s.op = 'update' AND (i.account_id = :account) IS TRUE
-- ;
-- name: ledger
INSERT INTO inventory_adjustments (account_id, inventory_item_id, kind, delta, quantity_after,
                                   reason, source, run_id, created)
SELECT :account, s.id, 'set',
       s.quantity - coalesce(prev.quantity, 0), s.quantity, 'import', :source, :run_id, :now
FROM stage_inventory s LEFT JOIN prev_inventory prev ON prev.id = s.id
WHERE s.quantity IS DISTINCT FROM prev.quantity
-- ;
-- name: lock_event_log
SELECT pg_advisory_xact_lock(:event_lock)
-- ;
-- name: events
-- One event per changed object. Run once per :object_type (product, price, inventory_item, in
-- that order) so a consumer sees a product before the prices and stock that point at it; the
-- constant filter prunes the other branches, and no sort of a million wide rows is needed.
-- A product's or price's event stores no JSON: event_data() builds it when it is read, from
-- the row at the event's version and the one before it, frozen by the update (sql/0022).
-- A stock item's event stores its object and previous_attributes, which has a changed()
-- (sql/0019) for every key of the object (sql/0001) but id, version and updated, from the row
-- locked above and the row now. It equals previous_attributes(old object, new object), which
-- tests/integration/test_import_previous_attributes.py checks.
INSERT INTO events (account_id, type, object_type, object_id, object_version, data, request,
                    source, run_id, created)
SELECT :account, c.object_type || '.updated', c.object_type, c.id, c.version,
       CASE WHEN c.obj IS NOT NULL
            THEN jsonb_build_object('object', c.obj, 'previous_attributes', c.previous) END,
       CAST(:request AS jsonb), :source, :run_id, :now
FROM (
    SELECT 'product' AS object_type, n.id, n.version, NULL::jsonb AS obj, NULL::jsonb AS previous
    FROM stage_products s JOIN prev_products o ON o.id = s.id JOIN products n ON n.id = s.id
    UNION ALL
    SELECT 'price', n.id, n.version, NULL, NULL
    FROM stage_prices s JOIN prev_prices o ON o.id = s.id JOIN prices n ON n.id = s.id
    UNION ALL
    SELECT 'inventory_item', n.id, n.version, inventory_item_object(n),
           changed('sku', o.sku, n.sku) || changed('product', o.product_id, n.product_id) ||
           changed('price', o.price_id, n.price_id) ||
           changed('quantity', o.quantity, n.quantity) || changed('policy', o.policy, n.policy) ||
           changed('created', epoch(o.created), epoch(n.created)) ||
           changed('source', o.source, n.source)
    FROM stage_inventory s JOIN prev_inventory o ON o.id = s.id
    JOIN inventory_items n ON n.id = s.id
) c
WHERE c.object_type = :object_type
