-- The stored rows each part of a large re-import leads to (store/stored_parts.py), found on the
-- server, so the client never holds all of the account's: the rules of read_stored_for.sql, per
-- part. `part_keys` holds each part's keys (part >= 0) and the keys of no part (part -1: the
-- keys gone from the file, the products changed since the snapshot). %(a)s is the account.
--
-- They run with nested loops off (stored_parts._hash_joins): a million keys against a million
-- rows. Statements are separated by "-- ;".
-- name: part_inventory
INSERT INTO part_inventory
SELECT k.part, i.id, i.sku, i.content_hash, i.quantity, i.policy, i.product_id, i.price_id,
       i.source
FROM part_keys k JOIN inventory_items i ON i.sku = k.value
WHERE k.kind = 'sku' AND i.account_id = %(a)s
-- ;
-- name: part_found_products
INSERT INTO part_products
SELECT k.part, p.id, p.external_id, p.content_hash, p.active, p.default_price, p.source
FROM part_keys k JOIN products p ON p.external_id = k.value
WHERE k.kind = 'external_id' AND p.account_id = %(a)s
-- ;
-- name: part_product_prices
-- the current prices of each part's products found by key, and of its product ids
INSERT INTO part_prices
SELECT w.part, r.id, r.variant_key, r.product_id, r.currency || ':' || r.unit_amount,
       r.content_hash, r.active, r.source
FROM (
    -- ALL: only the keys of no part (part -1) name ids, and the rest is read DISTINCT
    SELECT part, id FROM part_products
    UNION ALL SELECT part, value FROM part_keys WHERE kind = 'product_id'
) w JOIN prices r ON r.product_id = w.id
WHERE r.account_id = %(a)s AND r.replaced_by IS NULL
-- ;
-- name: part_variant_prices
-- the current prices of each part's other variants: of another product, or of none; the
-- products they belong to (and leave) are kept in part_left
WITH found AS (
    INSERT INTO part_prices
    SELECT w.part, r.id, r.variant_key, r.product_id, r.currency || ':' || r.unit_amount,
           r.content_hash, r.active, r.source
    FROM (
        SELECT part, value FROM part_keys WHERE kind = 'variant_key'
        EXCEPT SELECT part, variant_key FROM part_prices
    ) w JOIN prices r ON r.variant_key = w.value
    WHERE r.account_id = %(a)s AND r.replaced_by IS NULL
    RETURNING part, product_id, id
)
INSERT INTO part_left SELECT part, product_id, id FROM found WHERE product_id IS NOT NULL
-- ;
-- name: part_left_prices
-- the other current prices of the products those variants leave, which may need another
-- default price (diff.py, repoint_left_products); only variants that move lead there. Probed
-- by product id: part_left is small, and a hash join would read every price.
INSERT INTO part_prices
SELECT l.part, r.id, r.variant_key, r.product_id, r.currency || ':' || r.unit_amount,
       r.content_hash, r.active, r.source
FROM (SELECT DISTINCT part, product_id FROM part_left) l CROSS JOIN LATERAL (
    SELECT * FROM prices WHERE product_id = l.product_id OFFSET 0
) r
WHERE r.account_id = %(a)s AND r.replaced_by IS NULL
  AND NOT EXISTS (SELECT 1 FROM part_left x WHERE x.part = l.part AND x.price_id = r.id)
  -- driven by part_left: an EXCEPT read all of part_keys (0.36 s for a million products)
  AND NOT EXISTS (
      SELECT 1 FROM part_keys k
      WHERE k.part = l.part AND k.kind = 'product_id' AND k.value = l.product_id
  )
-- ;
-- name: part_other_products
-- the products each part's ids, variants and SKUs lead to, other than those found by key
INSERT INTO part_products
SELECT o.part, p.id, p.external_id, p.content_hash, p.active, p.default_price, p.source
FROM (
    SELECT part, value AS id FROM part_keys WHERE kind = 'product_id'
    UNION SELECT part, product_id FROM part_prices
    UNION SELECT part, product_id FROM part_inventory
    EXCEPT SELECT part, id FROM part_products
) o JOIN products p ON p.id = o.id
WHERE p.account_id = %(a)s
