-- One freeze function for the three tables instead of three copies (sql/0009). Each trigger
-- names the function that builds its table's created-event data; the statement is the one the
-- copies ran, planned once per firing statement, as before (the transition table is only
-- visible inside the trigger, so the statement cannot be prepared ahead).
CREATE FUNCTION freeze_lean_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'INSERT INTO event_objects (event_sequence, data)'
        ' SELECT e.sequence, %I(o)'
        ' FROM old_rows o JOIN events e ON e.account_id = o.account_id'
        '     AND e.object_id = o.id AND e.object_version = o.version'
        -- lean events are created events, at version 1: a row past it has nothing to freeze
        ' WHERE o.version = 1 AND e.data IS NULL'
        ' ON CONFLICT (event_sequence) DO NOTHING',
        TG_ARGV[0]);
    RETURN NULL;
END $$;

DROP TRIGGER products_freeze_on_update ON products;
DROP TRIGGER products_freeze_on_delete ON products;
DROP TRIGGER prices_freeze_on_update ON prices;
DROP TRIGGER prices_freeze_on_delete ON prices;
DROP TRIGGER inventory_items_freeze_on_update ON inventory_items;
DROP TRIGGER inventory_items_freeze_on_delete ON inventory_items;
DROP FUNCTION freeze_product_events();
DROP FUNCTION freeze_price_events();
DROP FUNCTION freeze_inventory_item_events();

-- A trigger with transition tables may name one event only: one for UPDATE, one for DELETE.
CREATE TRIGGER products_freeze_on_update AFTER UPDATE ON products
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION freeze_lean_events('product_created_data');
CREATE TRIGGER products_freeze_on_delete AFTER DELETE ON products
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION freeze_lean_events('product_created_data');
CREATE TRIGGER prices_freeze_on_update AFTER UPDATE ON prices
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION freeze_lean_events('price_created_data');
CREATE TRIGGER prices_freeze_on_delete AFTER DELETE ON prices
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION freeze_lean_events('price_created_data');
CREATE TRIGGER inventory_items_freeze_on_update AFTER UPDATE ON inventory_items
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION freeze_lean_events('inventory_item_created_data');
CREATE TRIGGER inventory_items_freeze_on_delete AFTER DELETE ON inventory_items
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION freeze_lean_events('inventory_item_created_data');
