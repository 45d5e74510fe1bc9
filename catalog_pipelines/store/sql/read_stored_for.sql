-- The stored rows a partial import diffs against (store/imports.py read_stored_for), with the
-- columns of read_stored's queries, from the keys in the `wanted_keys` temp table. Run as
-- COPY (...) TO STDOUT with %(a)s bound to the account. Statements are separated by "-- ;".
--
-- Every lookup is a LATERAL subquery with OFFSET 0: a parameterised probe per key. Right after
-- a bulk import the planner's statistics still describe the tables before it, so each probe
-- names exactly one index: by key with the account (a unique key), by id or product id without
-- it (the account is checked outside the OFFSET 0 fence, where it cannot steer the plan).
-- Given the account, the planner once chose an (account_id, ...) index for a product id and
-- read the whole account for every key.
-- name: products
WITH by_key AS (
    SELECT p.* FROM wanted_keys w CROSS JOIN LATERAL (
        SELECT * FROM products WHERE account_id = %(a)s AND external_id = w.value OFFSET 0
    ) p WHERE w.kind = 'external_id'
), other_ids AS (
    SELECT value AS id FROM wanted_keys WHERE kind = 'product_id'
    UNION SELECT x.product_id FROM wanted_keys w CROSS JOIN LATERAL (
        SELECT product_id FROM prices
        WHERE account_id = %(a)s AND variant_key = w.value AND replaced_by IS NULL OFFSET 0
    ) x WHERE w.kind = 'variant_key'
    UNION SELECT x.product_id FROM wanted_keys w CROSS JOIN LATERAL (
        SELECT product_id FROM inventory_items WHERE account_id = %(a)s AND sku = w.value OFFSET 0
    ) x WHERE w.kind = 'sku'
    EXCEPT SELECT id FROM by_key
)
SELECT id, external_id, content_hash, active, default_price, source FROM by_key
UNION ALL
SELECT p.id, p.external_id, p.content_hash, p.active, p.default_price, p.source
FROM other_ids CROSS JOIN LATERAL (
    SELECT * FROM products WHERE id = other_ids.id OFFSET 0
) p
WHERE p.account_id = %(a)s
-- ;
-- name: prices
WITH by_variant AS (
    SELECT r.* FROM wanted_keys w CROSS JOIN LATERAL (
        SELECT * FROM prices
        WHERE account_id = %(a)s AND variant_key = w.value AND replaced_by IS NULL OFFSET 0
    ) r WHERE w.kind = 'variant_key'
), products_wanted AS (
    SELECT x.id FROM wanted_keys w CROSS JOIN LATERAL (
        SELECT id FROM products WHERE account_id = %(a)s AND external_id = w.value OFFSET 0
    ) x WHERE w.kind = 'external_id'
    UNION SELECT value FROM wanted_keys WHERE kind = 'product_id'
), rows AS (
    SELECT * FROM by_variant
    UNION
    SELECT r.* FROM products_wanted pw CROSS JOIN LATERAL (
        SELECT * FROM prices WHERE product_id = pw.id OFFSET 0
    ) r
    WHERE r.account_id = %(a)s AND r.replaced_by IS NULL
)
SELECT id, variant_key, product_id, currency || ':' || unit_amount, content_hash, active, source
FROM rows
-- ;
-- name: inventory
SELECT i.id, i.sku, i.content_hash, i.quantity, i.policy, i.product_id, i.price_id, i.source
FROM wanted_keys w CROSS JOIN LATERAL (
    SELECT * FROM inventory_items WHERE account_id = %(a)s AND sku = w.value OFFSET 0
) i
WHERE w.kind = 'sku'
