"""An import's update events list exactly the keys that changed, with their old values.

The import builds previous_attributes column by column (store/sql/apply_import.sql); the
API's writers and the definition use previous_attributes(old object, new object). Every
field an import can write is changed here, to and from null, and each event is checked
against both the definition and the two stored versions.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.importer import ImportOptions, import_batch
from catalog_pipelines.store.objects import CONTENT_FIELDS
from tests.support.batches import batch

BOOKKEEPING = ("version", "updated")

BEFORE = [
    {
        "external_id": "A",
        "name": "Mug",
        "description": "Stoneware",
        "images": ["https://img.example/a.png"],
        "url": "https://shop.example/a",
        "shippable": True,
        "tax_code": "txcd_1",
        "unit_label": "piece",
        "metadata": {"brand": "Acme", "color": "red"},
    },
    {"external_id": "B", "name": "Cap", "description": None, "metadata": {}},
    {"external_id": "C", "name": "Tee", "metadata": {"brand": "Acme"}},
    {"external_id": "D", "name": "Bag"},
]
VARIANTS = [
    {"sku": "SKU-A", "unit_amount": 500, "qty": 5, "nickname": "small", "policy": "deny"},
    {"sku": "SKU-B", "unit_amount": 700, "qty": 0, "nickname": None, "policy": "deny"},
    {"sku": "SKU-C", "unit_amount": 900, "qty": 2, "nickname": None, "policy": "deny"},
    {"sku": "SKU-D", "unit_amount": 100, "qty": 1, "nickname": None, "policy": "deny"},
]
AFTER = [
    {  # every content field changes, two of them to null
        "external_id": "A",
        "name": "Mug, large",
        "description": None,
        "images": ["https://img.example/a2.png", "https://img.example/a3.png"],
        "url": None,
        "shippable": False,
        "tax_code": "txcd_2",
        "unit_label": "set",
        "metadata": {"brand": "Acme", "color": "blue", "size": "L"},
    },
    {"external_id": "B", "name": "Cap", "description": "Wool", "metadata": {}},  # from null
    {"external_id": "C", "name": "Tee", "metadata": {"brand": "Acme"}},  # only its price moves
    # D is left out of the full import: archived
]
VARIANTS_AFTER = [
    {"sku": "SKU-A", "unit_amount": 500, "qty": 3, "nickname": "large", "policy": "continue"},
    {"sku": "SKU-B", "unit_amount": 700, "qty": 4, "nickname": "wool", "policy": "deny"},
    {"sku": "SKU-C", "unit_amount": 950, "qty": 2, "nickname": None, "policy": "deny"},
]


def _batch(products: list[dict[str, Any]], variants: list[dict[str, Any]]) -> Any:
    return batch(
        products,
        [
            {
                "product_external_id": v["sku"].removeprefix("SKU-"),
                "variant_key": v["sku"],
                "sku": v["sku"],
                "currency": "usd",
                "unit_amount": v["unit_amount"],
                "nickname": v["nickname"],
                "inventory_quantity": v["qty"],
                "inventory_policy": v["policy"],
            }
            for v in variants
        ],
    )


def test_update_events_carry_exactly_the_changed_keys(engine: sa.Engine, account: str) -> None:
    options = ImportOptions(source="shop", account_id=account, mode="full", allow_mass_archive=True)
    import_batch(engine, _batch(BEFORE, VARIANTS), options)
    report = import_batch(engine, _batch(AFTER, VARIANTS_AFTER), options)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT n.object_type AS type, n.object_id, o.state AS old, n.state AS new,"
                " n.previous_attributes AS got,"
                " previous_attributes(o.state::jsonb, n.state::jsonb) AS defined"
                " FROM object_versions n JOIN object_versions o"
                " ON o.object_id = n.object_id AND o.version = n.version - 1"
                " WHERE n.account_id = :a AND n.run_id = :run"
            ),
            {"a": account, "run": report.run_id},
        ).all()
    updates = [r for r in rows if r.got is not None]
    by_kind = Counter(r.type for r in updates)
    # products: A's content, B's description, C's default price, D archived; prices: A's and
    # B's nicknames, C's old price retired, D's archived; stock: A, B, and C's new price
    assert by_kind == {"product": 4, "price": 4, "inventory_item": 3}, by_kind
    for r in updates:
        changed = {k: v for k, v in r.old.items() if k not in BOOKKEEPING and r.new.get(k) != v}
        assert r.got == changed, (r.type, r.object_id, r.got, changed)
        assert r.got == r.defined, (r.type, r.object_id, r.got, r.defined)
    product_a = next(r for r in updates if r.type == "product" and r.new["external_id"] == "A")
    # every content field but `active` (A stays active) and `package_dimensions` (no import
    # writes it)
    assert set(product_a.got) == set(CONTENT_FIELDS) - {"active", "package_dimensions"}
