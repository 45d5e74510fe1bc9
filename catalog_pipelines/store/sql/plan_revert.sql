-- A revert's plan (store/revert.py), built on the server in the revert_touched and
-- revert_plan temp tables, so undoing a run of millions of objects never holds them in Python.
-- Run by name, in file order, in the revert's transaction, with :account, :run, :after and
-- :through (the run's range of the log, sql/0013) bound. Statements are separated by lines
-- of "-- ;". The plan_* statements get " FOR UPDATE OF p" appended for a real revert (a dry
-- run reads without locks). A run of up to PROBE_LIMIT objects is planned with hash and merge
-- joins off (store/imports.py index_probes): every join here must then find its rows by a
-- primary key, or it reads a whole table once per row.
-- name: touched
-- One row per object the run wrote: the last version it wrote, whether it created it, and
-- the previous_attributes of its first event on it (the state before the run; sql/0022).
INSERT INTO revert_touched (object_type, id, last_version, created, prev)
SELECT object_type, object_id, max(object_version), bool_or(type LIKE '%.created'),
       ((array_agg(event_previous_attributes(e) ORDER BY sequence))[1])::jsonb
FROM events e
WHERE account_id = :account AND run_id = :run AND sequence > :after AND sequence <= :through
GROUP BY object_type, object_id
-- ;
-- name: analyze_touched
ANALYZE revert_touched
-- ;
-- name: plan_products
-- `target`: the fields the run overwrote, with their values before it (sql/0016). The
-- account is checked as `(...) IS TRUE`, which no index serves, so that it cannot steer the
-- plan away from the probes by id (see apply_import.sql).
INSERT INTO revert_plan (ord, object_type, id, version, last_version, created, active,
                         default_price, target)
SELECT 1, 'product', p.id, p.version, t.last_version, t.created, p.active, p.default_price,
       prior(product_object(p), t.prev)
FROM revert_touched t JOIN products p ON p.id = t.id
WHERE t.object_type = 'product' AND (p.account_id = :account) IS TRUE
ORDER BY p.id
-- ;
-- name: plan_prices
INSERT INTO revert_plan (ord, object_type, id, version, last_version, created, active,
                         cur_replaced_by, replaced_by, target)
SELECT 0, 'price', p.id, p.version, t.last_version, t.created, p.active, p.replaced_by,
       p.replaced_by, prior(price_object(p), t.prev)
FROM revert_touched t JOIN prices p ON p.id = t.id
WHERE t.object_type = 'price' AND (p.account_id = :account) IS TRUE
ORDER BY p.id
-- ;
-- name: plan_inventory
INSERT INTO revert_plan (ord, object_type, id, version, last_version, created, target)
SELECT 2, 'inventory_item', p.id, p.version, t.last_version, t.created,
       prior(inventory_item_object(p), t.prev)
FROM revert_touched t JOIN inventory_items p ON p.id = t.id
WHERE t.object_type = 'inventory_item' AND (p.account_id = :account) IS TRUE
ORDER BY p.id
-- ;
-- name: decide
-- Each object alone: changed since the run (left alone, naming who changed it last),
-- created by it (archived), or overwritten by it (restored).
UPDATE revert_plan r SET
    action = CASE
        WHEN r.version <> r.last_version THEN 'skip'
        WHEN r.created AND (r.object_type = 'inventory_item' OR r.active IS FALSE) THEN 'skip'
        WHEN r.created THEN 'archive'
        WHEN r.target = '{}' THEN 'skip'
        ELSE 'restore' END,
    target = CASE
        WHEN r.version <> r.last_version THEN '{}'
        WHEN r.created AND (r.object_type = 'inventory_item' OR r.active IS FALSE) THEN '{}'
        WHEN r.created THEN '{"active": false}'
        ELSE r.target END,
    reason = CASE
        WHEN r.version <> r.last_version THEN format(
            'changed since the run (now version %s%s); left as it is', r.version,
            (SELECT CASE WHEN coalesce(e.run_id, '') <> '' THEN ' by run ' || e.run_id
                         WHEN coalesce(e.request ->> 'id', '') <> ''
                             THEN ' by request ' || (e.request ->> 'id')
                         ELSE '' END
             FROM events e WHERE e.account_id = :account AND e.object_id = r.id
             ORDER BY e.object_version DESC LIMIT 1))  -- its latest: log order (sql/0018)
        WHEN r.created AND r.object_type = 'inventory_item' THEN
            'created by the run; a stock item has no archived state, so it is kept'
            ' (its product is archived)'
        WHEN r.created AND r.active IS FALSE THEN 'created by the run and already archived'
        WHEN r.created THEN NULL
        WHEN r.target = '{}' THEN 'already as it was before the run'
        END
-- ;
-- name: deleted_since
-- An object the run wrote that is gone (a product deleted through the API): nothing to put
-- back, but listed, so the counts add up to what the run wrote.
INSERT INTO revert_plan (ord, object_type, id, last_version, created, action, reason, target)
SELECT CASE t.object_type WHEN 'price' THEN 0 WHEN 'product' THEN 1 ELSE 2 END,
       t.object_type, t.id, t.last_version, t.created, 'skip',
       'deleted since the run; nothing to restore', '{}'
FROM revert_touched t
WHERE NOT EXISTS (SELECT FROM revert_plan r WHERE r.id = t.id)
-- ;
-- name: protect_default_prices
-- A product left alone keeps a working default price: the price it points at is not archived.
UPDATE revert_plan r SET action = 'skip', target = '{}',
    reason = 'it is the default price of ' || s.product || ', which changed since the run'
FROM (
    SELECT default_price, min(id) AS product FROM revert_plan
    WHERE object_type = 'product' AND action = 'skip' AND default_price IS NOT NULL
    GROUP BY default_price
) s
WHERE r.id = s.default_price AND r.object_type = 'price' AND r.action = 'archive'
-- ;
-- name: pair_replaced_prices
-- An amount change retired the old price (replaced_by = the new one, created by the same
-- run): undo both together, or neither. Both are read before either is updated.
WITH pairs AS (
    SELECT o.id AS old_id, n.id AS new_id,
           o.action = 'skip' OR n.action = 'skip' AS blocked,
           CASE WHEN n.action = 'skip' THEN n.id ELSE o.id END AS blocker,
           CASE WHEN n.action = 'skip' THEN n.reason ELSE o.reason END AS blocker_reason
    FROM revert_plan o JOIN revert_plan n ON n.id = o.cur_replaced_by
    WHERE o.object_type = 'price' AND n.object_type = 'price'
      AND NOT (o.action = 'skip' AND n.action = 'skip')
), members AS (
    SELECT old_id AS id, false AS is_new, * FROM pairs
    UNION ALL
    SELECT new_id, true, * FROM pairs
)
UPDATE revert_plan r SET
    action = CASE WHEN m.blocked THEN 'skip' WHEN m.is_new THEN 'archive' ELSE r.action END,
    target = CASE WHEN m.blocked THEN '{}'
                  WHEN m.is_new THEN '{"active": false, "lookup_key": null}'
                  ELSE r.target END,
    reason = CASE
        WHEN m.blocked THEN 'replaced price pair: ' || m.blocker || ' ' || m.blocker_reason
                            || '; the pair is left as it is'
        WHEN m.is_new THEN 'the price the run replaced, ' || m.old_id || ', is active again'
        ELSE r.reason END,
    -- the old price is current again; the new one points back at it
    replaced_by = CASE WHEN m.blocked THEN r.replaced_by
                       WHEN m.is_new THEN m.old_id ELSE NULL END
FROM members m
WHERE r.id = m.id AND r.action <> 'skip'
-- ;
-- name: drop_retired_targets
-- A product or stock item must not point back at a price that stays retired.
UPDATE revert_plan r SET target = r.target - k.key,
    reason = k.key || ' kept: the price it pointed at stays retired'
FROM (VALUES ('default_price'), ('price')) AS k (key)
WHERE r.action = 'restore' AND EXISTS (
    SELECT FROM revert_plan retired
    WHERE retired.id = r.target ->> k.key
      AND retired.object_type = 'price' AND retired.action = 'skip' AND retired.active IS FALSE)
-- ;
-- name: nothing_left
UPDATE revert_plan SET action = 'skip', reason = coalesce(reason, 'nothing left to restore')
WHERE action = 'restore' AND target = '{}'
-- ;
-- name: order
-- The write order: prices, products, stock; among prices, those that get a replaced_by
-- first (the unique current-variant and lookup_key indexes); then by id.
UPDATE revert_plan r SET n = o.n
FROM (
    SELECT id, row_number() OVER (
        ORDER BY ord, replaced_by IS NULL, id COLLATE "C") AS n
    FROM revert_plan
) o
WHERE r.id = o.id
-- ;
-- name: index_order
CREATE UNIQUE INDEX ON revert_plan (n)
-- ;
-- name: analyze_plan
-- The writes find their batch by `n`: with the plan's statistics the planner starts there,
-- not from the catalog (the archive statement names both products and prices).
ANALYZE revert_plan
