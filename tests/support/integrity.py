"""Referential integrity of the catalog, checked by tests (the bulk tables carry no FKs)."""

from __future__ import annotations

import sqlalchemy as sa

ORPHANS = {
    "price without its product": "SELECT count(*) FROM prices c LEFT JOIN products p"
    " ON p.id = c.product_id AND p.account_id = c.account_id WHERE c.account_id = :a AND p.id IS NULL",
    "stock item without its product": "SELECT count(*) FROM inventory_items c LEFT JOIN products p"
    " ON p.id = c.product_id AND p.account_id = c.account_id WHERE c.account_id = :a AND p.id IS NULL",
    "stock item pointing at a missing price": "SELECT count(*) FROM inventory_items c"
    " LEFT JOIN prices p ON p.id = c.price_id WHERE c.account_id = :a AND c.price_id IS NOT NULL"
    " AND p.id IS NULL",
    "retired price whose successor is missing": "SELECT count(*) FROM prices c LEFT JOIN prices p"
    " ON p.id = c.replaced_by WHERE c.account_id = :a AND c.replaced_by IS NOT NULL AND p.id IS NULL",
    "ledger row without its stock item": "SELECT count(*) FROM inventory_adjustments c"
    " LEFT JOIN inventory_items i ON i.id = c.inventory_item_id WHERE c.account_id = :a AND i.id IS NULL",
    "default price that is not the product's": "SELECT count(*) FROM products p LEFT JOIN prices c"
    " ON c.id = p.default_price AND c.product_id = p.id WHERE p.account_id = :a"
    " AND p.default_price IS NOT NULL AND c.id IS NULL",
    # an archived product may keep a price that left with its variant: it is history
    "active product whose default price is retired": "SELECT count(*) FROM products p"
    " JOIN prices c ON c.id = p.default_price WHERE p.account_id = :a AND p.active"
    " AND c.replaced_by IS NOT NULL",
    "account row missing": "SELECT count(*) FROM (SELECT account_id FROM products WHERE account_id = :a"
    " LIMIT 1) x LEFT JOIN accounts a ON a.id = x.account_id WHERE a.id IS NULL",
}


def assert_catalog_integrity(engine: sa.Engine, account: str) -> None:
    with engine.connect() as conn:
        problems = {
            name: n
            for name, sql in ORPHANS.items()
            if (n := conn.execute(sa.text(sql), {"a": account}).scalar_one())
        }
    assert not problems, f"catalog integrity broken for {account}: {problems}"
