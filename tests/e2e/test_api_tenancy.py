"""Another account's ids are never visible or writable: every endpoint answers 404."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from catalog_pipelines.store import inventory
from catalog_pipelines.store.events import Cause
from tests.e2e.conftest import Client


@pytest.fixture
def owned(client: Client, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """One of everything in `client`'s account."""
    monkeypatch.setenv("CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS", "1")
    p = client.post("/v1/products", data={"name": "Secret"}).json()
    price = client.post(
        "/v1/prices", data={"product": p["id"], "currency": "usd", "unit_amount": "5"}
    ).json()
    sku = f"SKU-{p['id']}"
    with engine.begin() as conn:
        inventory.create_inventory_item(
            conn,
            client.account,
            sku=sku,
            product_id=p["id"],
            quantity=5,
            cause=Cause(request_id="t"),
        )
    we = client.post(
        "/v1/webhook_endpoints", data={"url": "http://127.0.0.1:9/x", "enabled_events[0]": "*"}
    )
    assert we.status_code == 200, we.text
    event = client.get("/v1/events", params={"limit": 1}).json()["data"][0]
    return {
        "product": p["id"],
        "price": price["id"],
        "sku": sku,
        "we": we.json()["id"],
        "event": event["id"],
    }


def test_every_endpoint_is_404_for_another_account(
    client: Client, other_client: Client, owned: dict[str, str]
) -> None:
    o = owned
    calls = [
        ("GET", f"/v1/products/{o['product']}", None),
        ("GET", f"/v1/products/{o['product']}?as_of=2030-01-01T00:00:00Z", None),
        ("GET", f"/v1/products/{o['product']}/versions", None),
        ("POST", f"/v1/products/{o['product']}", {"name": "stolen"}),
        ("GET", f"/v1/products?starting_after={o['product']}", None),
        ("GET", f"/v1/products?ending_before={o['product']}", None),
        ("GET", f"/v1/prices/{o['price']}", None),
        ("POST", f"/v1/prices/{o['price']}", {"nickname": "stolen"}),
        ("POST", "/v1/prices", {"product": o["product"], "currency": "usd", "unit_amount": "1"}),
        ("GET", f"/v1/prices?starting_after={o['price']}", None),
        ("GET", f"/v1/inventory_items/{o['sku']}", None),
        ("POST", f"/v1/inventory_items/{o['sku']}/adjust", {"delta": "-1"}),
        ("POST", f"/v1/inventory_items/{o['sku']}/set", {"quantity": "0"}),
        ("GET", f"/v1/events/{o['event']}", None),
        ("GET", f"/v1/events?starting_after={o['event']}", None),
        ("GET", f"/v1/webhook_endpoints/{o['we']}", None),
        ("POST", f"/v1/webhook_endpoints/{o['we']}", {"description": "stolen"}),
        ("GET", f"/v1/webhook_endpoints/{o['we']}/deliveries", None),
        ("GET", f"/v1/webhook_endpoints?starting_after={o['we']}", None),
        ("POST", f"/v1/webhook_endpoints/{o['we']}/replay", {"from_event": o["event"]}),
        ("POST", f"/v1/webhook_endpoints/{o['we']}/replay", {"created[gte]": "0"}),
        ("DELETE", f"/v1/webhook_endpoints/{o['we']}", None),
    ]
    for method, path, data in calls:
        if method == "GET":
            r = other_client.get(path)
        elif method == "POST":
            r = other_client.post(path, data=data)
        else:
            r = other_client.delete(path)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert r.json()["error"]["type"] == "invalid_request_error", (method, path)
    # lists and feeds are simply empty
    for path in (
        "/v1/products",
        "/v1/prices",
        "/v1/events",
        "/v1/changes",
        "/v1/webhook_endpoints",
    ):
        assert other_client.get(path).json()["data"] == [], path
    # and nothing changed for the owner
    assert client.get(f"/v1/products/{o['product']}").json()["version"] == 1
    assert client.get(f"/v1/inventory_items/{o['sku']}").json()["quantity"] == 5
    assert client.get(f"/v1/webhook_endpoints/{o['we']}").json()["description"] is None
