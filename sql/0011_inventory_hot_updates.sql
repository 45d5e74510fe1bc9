-- Stock changes become HOT updates. `inventory_items_account_updated` (0001) served no query:
-- nothing lists inventory items by `updated`, and lookups by account use the
-- (account_id, sku) key. But `updated` changes on every adjust, so each sale inserted one
-- entry into all four indexes of the table, and the planner even chose this index for the
-- adjust's own row lookup, scanning every dead entry the earlier sales of the account had
-- left. Without it, an adjust changes no indexed column: PostgreSQL rewrites the row in place
-- on its page (heap-only tuple), with no index writes, while the row is locked.
DROP INDEX IF EXISTS inventory_items_account_updated;
