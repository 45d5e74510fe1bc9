-- A revert's writes (store/revert.py `_write`): one statement puts a batch of objects of one
-- type back, from one array per column (:id, ... in the same order), and returns each new
-- object. A batch is one statement, so the freeze triggers (sql/0020) run once a batch, not
-- once an object. The account is bound as :account. Statements are separated by "-- ;".
-- name: product
UPDATE products p SET active = v.active, name = v.name, description = v.description,
    images = v.images, metadata = v.metadata, url = v.url, shippable = v.shippable,
    tax_code = v.tax_code, unit_label = v.unit_label, package_dimensions = v.package_dimensions,
    default_price = v.default_price, version = p.version + 1, updated = now(),
    content_hash = v.hash
FROM unnest(CAST(:id AS text[]), CAST(:active AS boolean[]), CAST(:name AS text[]),
            CAST(:description AS text[]), CAST(:images AS jsonb[]), CAST(:metadata AS jsonb[]),
            CAST(:url AS text[]), CAST(:shippable AS boolean[]), CAST(:tax_code AS text[]),
            CAST(:unit_label AS text[]), CAST(:package_dimensions AS jsonb[]),
            CAST(:default_price AS text[]), CAST(:hash AS text[]))
    AS v (id, active, name, description, images, metadata, url, shippable, tax_code,
          unit_label, package_dimensions, default_price, hash)
WHERE p.id = v.id AND (p.account_id = :account) IS TRUE
RETURNING product_object(p) AS obj
-- ;
-- name: price
UPDATE prices p SET active = v.active, lookup_key = v.lookup_key, nickname = v.nickname,
    metadata = v.metadata, replaced_by = v.replaced_by, version = p.version + 1,
    updated = now(), content_hash = v.hash
FROM unnest(CAST(:id AS text[]), CAST(:active AS boolean[]), CAST(:lookup_key AS text[]),
            CAST(:nickname AS text[]), CAST(:metadata AS jsonb[]), CAST(:replaced_by AS text[]),
            CAST(:hash AS text[]))
    AS v (id, active, lookup_key, nickname, metadata, replaced_by, hash)
WHERE p.id = v.id AND (p.account_id = :account) IS TRUE
RETURNING price_object(p) AS obj
-- ;
-- name: inventory_item
UPDATE inventory_items i SET quantity = v.quantity, policy = v.policy, price_id = v.price,
    product_id = v.product, version = i.version + 1, updated = now(), content_hash = v.hash
FROM unnest(CAST(:id AS text[]), CAST(:quantity AS bigint[]), CAST(:policy AS text[]),
            CAST(:price AS text[]), CAST(:product AS text[]), CAST(:hash AS text[]))
    AS v (id, quantity, policy, price, product, hash)
WHERE i.id = v.id AND (i.account_id = :account) IS TRUE
RETURNING inventory_item_object(i) AS obj
-- ;
-- name: archive
-- Archiving what the run created, for the plan rows numbered :n, on the server alone: only
-- `active` changes, which the content hash leaves out, and the event says just that. Run
-- with the event log's lock held; the events go in plan order.
WITH products_archived AS (
    UPDATE products p SET active = false, version = p.version + 1, updated = now()
    FROM revert_plan r
    WHERE r.n = ANY(CAST(:n AS bigint[])) AND r.object_type = 'product' AND p.id = r.id
      AND (p.account_id = :account) IS TRUE
    RETURNING r.n, r.object_type, p.id, p.version, product_object(p) AS obj
), prices_archived AS (
    UPDATE prices p SET active = false, version = p.version + 1, updated = now()
    FROM revert_plan r
    WHERE r.n = ANY(CAST(:n AS bigint[])) AND r.object_type = 'price' AND p.id = r.id
      AND (p.account_id = :account) IS TRUE
    RETURNING r.n, r.object_type, p.id, p.version, price_object(p) AS obj
)
INSERT INTO events (account_id, type, object_type, object_id, object_version, data, request,
                    source, run_id)
SELECT :account, a.object_type || '.updated', a.object_type, a.id, a.version,
       jsonb_build_object('object', a.obj, 'previous_attributes', '{"active": true}'::jsonb),
       CAST(:request AS jsonb), :source, :run_id
FROM (SELECT * FROM products_archived UNION ALL SELECT * FROM prices_archived) a
ORDER BY a.n
