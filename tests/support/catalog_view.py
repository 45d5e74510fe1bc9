"""An account's catalog as keys and values, so the catalogs of two accounts compare."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def catalog_by_keys(engine: sa.Engine, account: str) -> dict[str, Any]:
    """The account's catalog with ids replaced by keys, so two accounts compare."""
    with engine.connect() as conn:
        products = conn.execute(
            sa.text(
                "SELECT p.external_id, p.name, p.active, p.metadata, p.version, p.source,"
                " d.variant_key AS default_variant FROM products p"
                " LEFT JOIN prices d ON d.id = p.default_price"
                " WHERE p.account_id = :a ORDER BY p.external_id"
            ),
            {"a": account},
        ).all()
        prices = conn.execute(
            sa.text(
                "SELECT r.variant_key, p.external_id, r.unit_amount, r.active, r.version,"
                " r.replaced_by IS NULL AS current FROM prices r JOIN products p ON p.id ="
                " r.product_id WHERE r.account_id = :a ORDER BY 1, 3, 6"
            ),
            {"a": account},
        ).all()
        items = conn.execute(
            sa.text(
                "SELECT i.sku, p.external_id, i.quantity, i.policy, i.version, i.source"
                " FROM inventory_items i JOIN products p ON p.id = i.product_id"
                " WHERE i.account_id = :a ORDER BY 1"
            ),
            {"a": account},
        ).all()
        events = conn.execute(
            sa.text(
                "SELECT type, count(*) FROM events WHERE account_id = :a GROUP BY 1 ORDER BY 1"
            ),
            {"a": account},
        ).all()
    return {
        "products": [tuple(r) for r in products],
        "prices": [tuple(r) for r in prices],
        "items": [tuple(r) for r in items],
        "events": [tuple(r) for r in events],
    }
