-- The stored rows a partial import diffs against (store/imports.py read_stored_for), with the
-- columns of read_stored's queries, from the keys in the `wanted_keys` temp table, with
-- %(a)s bound to the account. Statements are separated by "-- ;". The found_* statements fill
-- temp tables of the same names; the others run as COPY (...) TO STDOUT.
--
-- Each key is looked up once: the stock items of the SKUs and the prices of the variants
-- also name the products the product lookup must add, so the product lookup reads them from
-- the found_* tables instead of probing the same indexes again (70,000 probes became 40,000
-- for 10,000 changed products). And a variant is looked up by its key only when it is not
-- among the prices of the products found by key: a variant key names one current price, so
-- that price is the variant's (40,000 probes became 30,000).
--
-- The keys are probed in index order: `wanted_keys` holds them in hash order, and probing a
-- 474 MB index of 10M products at random missed the buffer cache on nearly every probe (75-98
-- µs each). In order, neighbouring keys share index pages, and heap pages when the rows were
-- stored in key order, as a first import stores a file.
--
-- Every lookup is a LATERAL subquery with OFFSET 0: a parameterised probe per key. Right after
-- a bulk import the planner's statistics still describe the tables before it, so each probe
-- names exactly one index: by key with the account (a unique key), by id or product id without
-- it (the account is checked outside the OFFSET 0 fence, where it cannot steer the plan).
-- Given the account, the planner once chose an (account_id, ...) index for a product id and
-- read the whole account for every key.
-- name: found_inventory
INSERT INTO found_inventory
SELECT i.id, i.sku, i.content_hash, i.quantity, i.policy, i.product_id, i.price_id, i.source
FROM (SELECT value FROM wanted_keys WHERE kind = 'sku' ORDER BY value) w CROSS JOIN LATERAL (
    SELECT * FROM inventory_items WHERE account_id = %(a)s AND sku = w.value OFFSET 0
) i
-- ;
-- name: found_products
INSERT INTO found_products
SELECT p.id, p.external_id, p.content_hash, p.active, p.default_price, p.source
FROM (SELECT value FROM wanted_keys WHERE kind = 'external_id' ORDER BY value) w
CROSS JOIN LATERAL (
    SELECT * FROM products WHERE account_id = %(a)s AND external_id = w.value OFFSET 0
) p
-- ;
-- name: found_product_prices
-- the current prices of the products of the keys and the ids
INSERT INTO found_product_prices
SELECT r.id, r.variant_key, r.product_id, r.currency || ':' || r.unit_amount, r.content_hash,
       r.active, r.source
FROM (
    SELECT id FROM found_products UNION SELECT value FROM wanted_keys WHERE kind = 'product_id'
    ORDER BY id
) pw CROSS JOIN LATERAL (
    SELECT * FROM prices WHERE product_id = pw.id OFFSET 0
) r
WHERE r.account_id = %(a)s AND r.replaced_by IS NULL
-- ;
-- name: found_prices
-- the current prices of the other variants: of another product, or of none (a new variant)
INSERT INTO found_prices
SELECT r.id, r.variant_key, r.product_id, r.currency || ':' || r.unit_amount, r.content_hash,
       r.active, r.source
FROM (
    SELECT value FROM wanted_keys WHERE kind = 'variant_key'
    EXCEPT SELECT variant_key FROM found_product_prices
    ORDER BY value
) w CROSS JOIN LATERAL (
    SELECT * FROM prices
    WHERE account_id = %(a)s AND variant_key = w.value AND replaced_by IS NULL OFFSET 0
) r
-- ;
-- name: products
-- the products of the keys, and those the ids, the variants and the SKUs lead to
WITH other_ids AS (
    SELECT value AS id FROM wanted_keys WHERE kind = 'product_id'
    UNION SELECT product_id FROM found_prices
    UNION SELECT product_id FROM found_inventory
    EXCEPT SELECT id FROM found_products
    ORDER BY id
)
SELECT id, external_id, content_hash, active, default_price, source FROM found_products
UNION ALL
SELECT p.id, p.external_id, p.content_hash, p.active, p.default_price, p.source
FROM other_ids CROSS JOIN LATERAL (
    SELECT * FROM products WHERE id = other_ids.id OFFSET 0
) p
WHERE p.account_id = %(a)s
-- ;
-- name: prices
-- the current prices of the variants, and of the products of the keys and the ids; and of the
-- other products those variants leave, which may need another default price (diff.py,
-- repoint_left_products). Only variants that move lead there: a new one has no stored price.
SELECT id, variant_key, product_id, amount, content_hash, active, source FROM found_prices
UNION
SELECT id, variant_key, product_id, amount, content_hash, active, source
FROM found_product_prices
UNION
SELECT r.id, r.variant_key, r.product_id, r.currency || ':' || r.unit_amount, r.content_hash,
       r.active, r.source
FROM (
    -- driven by found_prices, which is small: an EXCEPT would read all of wanted_keys
    SELECT DISTINCT f.product_id FROM found_prices f
    WHERE NOT EXISTS (SELECT 1 FROM found_products p WHERE p.id = f.product_id)
      AND NOT EXISTS (
          SELECT 1 FROM wanted_keys w WHERE w.kind = 'product_id' AND w.value = f.product_id
      )
    ORDER BY f.product_id
) l CROSS JOIN LATERAL (
    SELECT * FROM prices WHERE product_id = l.product_id OFFSET 0
) r
WHERE r.account_id = %(a)s AND r.replaced_by IS NULL
-- ;
-- name: inventory
SELECT id, sku, content_hash, quantity, policy, product_id, price_id, source
FROM found_inventory
