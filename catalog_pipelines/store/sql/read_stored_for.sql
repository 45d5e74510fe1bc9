-- The stored rows a partial import diffs against (store/imports.py read_stored_for), with the
-- columns of read_stored's queries, from the keys in the `wanted_keys` temp table. Run as
-- COPY (...) TO STDOUT with %(a)s bound to the account. Statements are separated by "-- ;".
--
-- Every lookup is a LATERAL subquery with OFFSET 0, which keeps it a parameterised index probe
-- per key. Right after a bulk import the planner's statistics still describe an empty table,
-- and a plain join then scans the whole account (seconds at a million rows) for ten keys.
-- name: products
WITH ids AS (
    SELECT x.id FROM wanted_keys w CROSS JOIN LATERAL (
        SELECT id FROM products WHERE account_id = %(a)s AND external_id = w.value OFFSET 0
    ) x WHERE w.kind = 'external_id'
    UNION SELECT value FROM wanted_keys WHERE kind = 'product_id'
    UNION SELECT x.product_id FROM wanted_keys w CROSS JOIN LATERAL (
        SELECT product_id FROM prices
        WHERE account_id = %(a)s AND variant_key = w.value AND replaced_by IS NULL OFFSET 0
    ) x WHERE w.kind = 'variant_key'
    UNION SELECT x.product_id FROM wanted_keys w CROSS JOIN LATERAL (
        SELECT product_id FROM inventory_items WHERE account_id = %(a)s AND sku = w.value OFFSET 0
    ) x WHERE w.kind = 'sku'
)
SELECT p.id, p.external_id, p.content_hash, p.active, p.default_price, p.source
FROM ids CROSS JOIN LATERAL (
    SELECT * FROM products WHERE account_id = %(a)s AND id = ids.id OFFSET 0
) p
-- ;
-- name: prices
WITH products_wanted AS (
    SELECT x.id FROM wanted_keys w CROSS JOIN LATERAL (
        SELECT id FROM products WHERE account_id = %(a)s AND external_id = w.value OFFSET 0
    ) x WHERE w.kind = 'external_id'
    UNION SELECT value FROM wanted_keys WHERE kind = 'product_id'
), ids AS (
    SELECT x.id FROM wanted_keys w CROSS JOIN LATERAL (
        SELECT id FROM prices
        WHERE account_id = %(a)s AND variant_key = w.value AND replaced_by IS NULL OFFSET 0
    ) x WHERE w.kind = 'variant_key'
    UNION SELECT x.id FROM products_wanted pw CROSS JOIN LATERAL (
        SELECT id FROM prices
        WHERE account_id = %(a)s AND product_id = pw.id AND replaced_by IS NULL OFFSET 0
    ) x
)
SELECT r.id, r.variant_key, r.product_id, r.currency || ':' || r.unit_amount, r.content_hash,
    r.active, r.source
FROM ids CROSS JOIN LATERAL (
    SELECT * FROM prices WHERE account_id = %(a)s AND id = ids.id OFFSET 0
) r
-- ;
-- name: inventory
SELECT i.id, i.sku, i.content_hash, i.quantity, i.policy, i.product_id, i.price_id, i.source
FROM wanted_keys w CROSS JOIN LATERAL (
    SELECT * FROM inventory_items WHERE account_id = %(a)s AND sku = w.value OFFSET 0
) i
WHERE w.kind = 'sku'
