"""Inventory writes: no oversell under concurrency, compare-and-set, ledger and events,
ownership, and idempotency keys that apply a request once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import sqlalchemy as sa

from catalog_pipelines.api import idempotency
from catalog_pipelines.store import inventory, objects, reads
from catalog_pipelines.store.errors import Conflict, InvalidRequest, NotFound, OwnedBySource
from catalog_pipelines.store.events import Cause

API = Cause(request_id="req_test")


def _item(engine: sa.Engine, account: str, sku: str, quantity: int, **kw: object) -> dict:
    with engine.begin() as conn:
        prod = objects.create_product(conn, account, {"name": sku}, API)
        return inventory.create_inventory_item(
            conn, account, sku=sku, product_id=prod["id"], quantity=quantity, cause=API, **kw
        )


def test_sixteen_clients_never_oversell(engine: sa.Engine, account: str) -> None:
    stock = 40
    _item(engine, account, "SKU-RACE", stock)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def client() -> None:
        barrier.wait()
        for _ in range(6):  # 16 x 6 = 96 attempts for 40 units
            try:
                with engine.begin() as conn:
                    inventory.adjust(conn, account, "SKU-RACE", -1, reason="sale", cause=API)
                result = "ok"
            except Conflict as e:
                assert e.code == "insufficient_inventory"
                result = "refused"
            with lock:
                outcomes[result] += 1

    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == Counter(ok=stock, refused=96 - stock)
    with engine.connect() as conn:
        item = reads.get_inventory_item_by_sku(conn, account, "SKU-RACE")
        ledger = conn.execute(
            sa.text(
                "SELECT kind, count(*), sum(delta), min(quantity_after)"
                " FROM inventory_adjustments WHERE account_id = :a GROUP BY kind ORDER BY kind"
            ),
            {"a": account},
        ).all()
        n_events = conn.execute(
            sa.text(
                "SELECT count(*) FROM events WHERE account_id = :a AND type = 'inventory_item.updated'"
            ),
            {"a": account},
        ).scalar_one()
    assert item is not None and item["quantity"] == 0 and item["version"] == 1 + stock
    assert [tuple(r) for r in ledger] == [("delta", stock, -stock, 0), ("initial", 1, stock, stock)]
    assert n_events == stock


def test_set_and_compare_and_set(engine: sa.Engine, account: str) -> None:
    _item(engine, account, "SKU-CAS", 5)
    with engine.begin() as conn:
        obj = inventory.set_quantity(conn, account, "SKU-CAS", 9, reason="count", cause=API)
    assert obj["quantity"] == 9 and obj["version"] == 2
    with engine.begin() as conn, pytest.raises(Conflict) as e:
        inventory.set_quantity(conn, account, "SKU-CAS", 3, expected_quantity=5, cause=API)
    assert e.value.code == "quantity_mismatch"
    with engine.begin() as conn:
        obj = inventory.set_quantity(conn, account, "SKU-CAS", 3, expected_quantity=9, cause=API)
        same = inventory.set_quantity(conn, account, "SKU-CAS", 3, cause=API)  # no-op
        up = inventory.adjust(conn, account, "SKU-CAS", 4, reference="PO-7", cause=API)
    assert obj["quantity"] == 3 and same["version"] == obj["version"] == 3
    assert up["quantity"] == 7 and up["version"] == 4
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT kind, delta, quantity_after, reason, reference FROM inventory_adjustments"
                " WHERE account_id = :a ORDER BY id"
            ),
            {"a": account},
        ).all()
        events = reads.list_events(conn, account, type="inventory_item.updated").data
    assert [tuple(r) for r in rows] == [
        ("initial", 5, 5, None, None),
        ("set", 4, 9, "count", None),
        ("set", -6, 3, None, None),
        ("delta", 4, 7, None, "PO-7"),
    ]
    assert [e["data"]["previous_attributes"] for e in events] == [
        {"quantity": 3},
        {"quantity": 9},
        {"quantity": 5},
    ]
    with engine.begin() as conn, pytest.raises(InvalidRequest):
        inventory.set_quantity(conn, account, "SKU-CAS", -1, cause=API)


def test_continue_policy_sells_past_zero_and_stops_there(engine: sa.Engine, account: str) -> None:
    _item(engine, account, "SKU-BACK", 1, policy="continue")
    with engine.begin() as conn:
        obj = inventory.adjust(conn, account, "SKU-BACK", -3, cause=API)
    assert obj["quantity"] == 0


def test_ownership_and_tenancy(engine: sa.Engine, account: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO sources (account_id, name, kind, owns)"
                " VALUES (:a, 'shop', 'shopify', ARRAY['inventory'])"
            ),
            {"a": account},
        )
    _item(engine, account, "SKU-OWN", 3)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE inventory_items SET source = 'shop' WHERE account_id = :a"),
            {"a": account},
        )
    with engine.begin() as conn, pytest.raises(OwnedBySource):
        inventory.adjust(conn, account, "SKU-OWN", -1, cause=API)
    with engine.begin() as conn, pytest.raises(OwnedBySource):
        inventory.set_quantity(conn, account, "SKU-OWN", 1, cause=API)
    with engine.begin() as conn:  # the owner itself may write
        obj = inventory.adjust(
            conn, account, "SKU-OWN", -1, cause=Cause(source="shop"), actor_source="shop"
        )
    assert obj["quantity"] == 2
    with engine.begin() as conn, pytest.raises(NotFound):
        inventory.adjust(conn, account + "_other", "SKU-OWN", -1, cause=API)


def test_idempotency_key_applies_once_even_concurrently(engine: sa.Engine, account: str) -> None:
    _item(engine, account, "SKU-IDEM", 10)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def write(conn: sa.Connection, cause: Cause) -> tuple[int, dict]:
        return 200, inventory.adjust(conn, account, "SKU-IDEM", -2, cause=cause)

    def client() -> None:
        barrier.wait()
        out = idempotency.run_once(
            engine,
            account_id=account,
            key="idem-1",
            method="POST",
            path="/v1/inventory_items/SKU-IDEM/adjust",
            params={"delta": -2},
            request_id="req_x",
            write=write,
        )
        with lock:
            results.append((out.status, out.body))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert all(r == results[0] for r in results), "every caller gets the same response"
    with engine.connect() as conn:
        item = reads.get_inventory_item_by_sku(conn, account, "SKU-IDEM")
    assert item is not None and item["quantity"] == 8
    with pytest.raises(idempotency.IdempotencyMismatch):
        idempotency.run_once(
            engine,
            account_id=account,
            key="idem-1",
            method="POST",
            path="/v1/inventory_items/SKU-IDEM/adjust",
            params={"delta": -3},
            request_id="req_y",
            write=write,
        )


def test_stored_hash_follows_every_change(engine: sa.Engine, account: str) -> None:
    """The importer's no-op check compares these hashes: they must match the quantity."""
    _item(engine, account, "SKU-HASH", 4)
    with engine.begin() as conn:
        inventory.adjust(conn, account, "SKU-HASH", -1, cause=API)
        after_adjust = conn.execute(
            sa.text("SELECT content_hash FROM inventory_items WHERE account_id = :a"),
            {"a": account},
        ).scalar_one()
        inventory.set_quantity(conn, account, "SKU-HASH", 9, cause=API)
        after_set = conn.execute(
            sa.text("SELECT content_hash FROM inventory_items WHERE account_id = :a"),
            {"a": account},
        ).scalar_one()
    assert after_adjust == objects.inventory_hash(3, "deny")
    assert after_set == objects.inventory_hash(9, "deny")


def test_sales_keep_only_a_stock_items_first_version_frozen(
    engine: sa.Engine, account: str
) -> None:
    """Every sale writes a version; copying each old row would cost that hot path for events
    that carry their JSON anyway. A product keeps every version it left (sql/0022)."""
    item = _item(engine, account, "SKU-FROZEN", 5)
    for _ in range(3):
        with engine.begin() as conn:
            inventory.adjust(conn, account, "SKU-FROZEN", -1, reason="sale", cause=API)
    with engine.begin() as conn:
        for name in ("Renamed", "Renamed again"):
            objects.update_product(conn, account, item["product"], {"name": name}, API)
    with engine.connect() as conn:
        frozen = {
            table: conn.execute(
                sa.text(f"SELECT version FROM {table} WHERE id = :id ORDER BY version"),  # noqa: S608 - a constant table name
                {"id": object_id},
            )
            .scalars()
            .all()
            for table, object_id in (
                ("frozen_inventory_items", item["id"]),
                ("frozen_products", item["product"]),
            )
        }
    assert frozen == {"frozen_inventory_items": [1], "frozen_products": [1, 2]}
