"""Inventory over HTTP: no oversell with 16 concurrent clients, Idempotency-Key replay,
mismatch and concurrent same-key requests, compare-and-set."""

from __future__ import annotations

import threading
from collections import Counter

import requests
import sqlalchemy as sa

from catalog_pipelines.store import inventory, objects
from catalog_pipelines.store.events import Cause
from tests.e2e.conftest import Client

T = Cause(request_id="test")


def _stock(engine: sa.Engine, account: str, sku: str, quantity: int) -> None:
    with engine.begin() as conn:
        p = objects.create_product(conn, account, {"name": sku}, T)
        inventory.create_inventory_item(
            conn, account, sku=sku, product_id=p["id"], quantity=quantity, cause=T
        )


def test_sixteen_http_clients_never_oversell(client: Client, engine: sa.Engine) -> None:
    _stock(engine, client.account, "RACE", 30)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def worker() -> None:
        session = requests.Session()
        barrier.wait()
        for _ in range(4):  # 64 attempts for 30 units
            r = session.post(
                client.base + "/v1/inventory_items/RACE/adjust",
                data={"delta": "-1", "reason": "sale"},
                headers={"Authorization": f"Bearer {client.secret}"},
                timeout=30,
            )
            with lock:
                statuses[r.status_code] += 1

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == Counter({200: 30, 409: 34})
    assert client.get("/v1/inventory_items/RACE").json()["quantity"] == 0


def test_idempotency_key_replays_and_guards(client: Client, engine: sa.Engine) -> None:
    _stock(engine, client.account, "IDEM", 10)
    h = {"Idempotency-Key": "order-42"}
    first = client.post(
        "/v1/inventory_items/IDEM/adjust", data={"delta": "-3", "reference": "o42"}, headers=h
    )
    assert first.status_code == 200 and first.json()["quantity"] == 7
    again = client.post(
        "/v1/inventory_items/IDEM/adjust", data={"delta": "-3", "reference": "o42"}, headers=h
    )
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = client.post("/v1/inventory_items/IDEM/adjust", data={"delta": "-4"}, headers=h)
    assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error"
    assert client.get("/v1/inventory_items/IDEM").json()["quantity"] == 7
    # concurrent requests with one key apply once
    results: list[requests.Response] = []
    barrier = threading.Barrier(6)

    def same_key() -> None:
        barrier.wait()
        results.append(
            client.post(
                "/v1/inventory_items/IDEM/set",
                data={"quantity": "2", "expected_quantity": "7"},
                headers={"Idempotency-Key": "count-1"},
            )
        )

    threads = [threading.Thread(target=same_key) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status_code for r in results} == {200}
    assert sum(1 for r in results if "Idempotent-Replayed" in r.headers) == 5
    with engine.connect() as conn:
        ledger = conn.execute(
            sa.text(
                "SELECT kind, delta, idempotency_key FROM inventory_adjustments a JOIN inventory_items i ON i.id = a.inventory_item_id WHERE i.account_id = :a AND i.sku = 'IDEM' ORDER BY a.id"
            ),
            {"a": client.account},
        ).all()
    assert [tuple(r) for r in ledger] == [
        ("initial", 10, None),
        ("delta", -3, "order-42"),
        ("set", -5, "count-1"),
    ]
    # a refused compare-and-set is stored and replayed too
    cas = client.post(
        "/v1/inventory_items/IDEM/set",
        data={"quantity": "9", "expected_quantity": "7"},
        headers={"Idempotency-Key": "count-2"},
    )
    assert cas.status_code == 409 and cas.json()["error"]["code"] == "quantity_mismatch"
    replay = client.post(
        "/v1/inventory_items/IDEM/set",
        data={"quantity": "9", "expected_quantity": "7"},
        headers={"Idempotency-Key": "count-2"},
    )
    assert replay.status_code == 409 and replay.headers["Idempotent-Replayed"] == "true"
    ev = client.get("/v1/events", params={"type": "inventory_item.updated", "limit": 1}).json()[
        "data"
    ][0]
    assert ev["request"]["idempotency_key"] == "count-1"


def test_bad_inventory_requests(client: Client, engine: sa.Engine) -> None:
    _stock(engine, client.account, "BAD", 1)
    assert (
        client.post("/v1/inventory_items/BAD/adjust", data={}).json()["error"]["code"]
        == "parameter_missing"
    )
    assert client.post("/v1/inventory_items/BAD/adjust", data={"delta": "x"}).status_code == 400
    assert client.post("/v1/inventory_items/BAD/adjust", data={"delta": "0"}).status_code == 400
    assert client.post("/v1/inventory_items/BAD/set", json={"quantity": -1}).status_code == 400
    assert client.post("/v1/inventory_items/NOPE/adjust", data={"delta": "1"}).status_code == 404
    assert client.post("/v1/inventory_items/BAD/adjust", json={"delta": 2}).json()["quantity"] == 3
