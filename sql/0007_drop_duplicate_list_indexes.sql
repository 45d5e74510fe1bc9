-- products_account_created and prices_account_created (0001) already order (account_id,
-- created, pk); a B-tree is read backwards as cheaply as forwards, so the DESC copies added
-- in 0003 served no query the first ones do not (pg_stat_user_indexes after the API and
-- import tests: the planner picks either). Each cost one more index entry per created row of
-- an import (about 17 MB per 200k products and again per 200k prices).
DROP INDEX IF EXISTS products_account_created_pk;
DROP INDEX IF EXISTS prices_account_created_pk;
