"""Incoming Shopify webhooks: HMAC with the source's secret, dedup by webhook id,
orders/create decrements, inventory_levels/update sets, within ownership."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from catalog_pipelines.store import inventory, objects
from catalog_pipelines.store.events import Cause
from tests.e2e.conftest import Client

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopify_webhooks"
T = Cause(request_id="test")


def _sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@pytest.fixture
def shop(client: Client, engine: sa.Engine) -> dict[str, str]:
    """A hybrid source (owns content only, so the catalog owns stock) with two SKUs, and a
    third SKU owned by another source."""
    source, secret = f"shop-{secrets.token_hex(3)}", secrets.token_hex(16)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO sources (account_id, name, kind, owns, webhook_secret) VALUES"
                " (:a, :n, 'shopify', ARRAY['content'], :s),"
                " (:a, 'erp', 'csv', ARRAY['inventory'], NULL)"
            ),
            {"a": client.account, "n": source, "s": secret},
        )
        p = objects.create_product(conn, client.account, {"name": "IPod Nano - 8GB"}, T)
        for sku, qty in (("IPOD2008PINK", 5), ("IPOD2008BLACK", 1), ("ERP-ONLY", 3)):
            inventory.create_inventory_item(
                conn, client.account, sku=sku, product_id=p["id"], quantity=qty, cause=T
            )
        conn.execute(
            sa.text(
                "UPDATE inventory_items SET source = 'erp' WHERE account_id = :a AND sku = 'ERP-ONLY'"
            ),
            {"a": client.account},
        )
    return {"source": source, "secret": secret}


def _post(
    base: str,
    shop: dict[str, str],
    topic: str,
    body: bytes,
    webhook_id: str,
    sig: str | None = None,
) -> requests.Response:
    return requests.post(
        f"{base}/v1/incoming/shopify/{shop['source']}",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sig or _sign(shop["secret"], body),
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Shop-Domain": "example.myshopify.com",
        },
        timeout=30,
    )


def _qty(client: Client, sku: str) -> int:
    return client.get(f"/v1/inventory_items/{sku}").json()["quantity"]


def test_order_decrements_once_and_bad_signature_applies_nothing(
    client: Client, shop: dict[str, str]
) -> None:
    body = (FIXTURES / "orders_create.json").read_bytes()
    bad = _post(client.base, shop, "orders/create", body, "wh-1", sig=_sign("wrong", body))
    assert bad.status_code == 401
    assert (_qty(client, "IPOD2008PINK"), _qty(client, "IPOD2008BLACK")) == (5, 1)

    results: list[requests.Response] = []
    barrier = threading.Barrier(4)

    def deliver() -> None:  # Shopify retrying while the first delivery is still running
        barrier.wait()
        results.append(_post(client.base, shop, "orders/create", body, "wh-1"))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    assert sorted(r.json()["duplicate"] for r in results) == [False, True, True, True]
    first = next(r.json() for r in results if not r.json()["duplicate"])
    # 1 pink sold of 5; 2 black ordered with 1 in stock: sold out, the shortfall reported
    assert _qty(client, "IPOD2008PINK") == 4 and _qty(client, "IPOD2008BLACK") == 0
    assert {a["sku"]: a["short"] for a in first["applied"]} == {
        "IPOD2008PINK": 0,
        "IPOD2008BLACK": 1,
    }
    assert [s["skipped"] for s in first["skipped"]] == ["no_sku_or_quantity"]  # the gift card
    events = client.get("/v1/events", params={"type": "inventory_item.updated"}).json()["data"]
    assert {e["source"] for e in events} == {shop["source"]}
    # the same body tampered with is refused, even under a known webhook id
    tampered = body.replace(b'"quantity": 1', b'"quantity": 9', 1)
    assert (
        _post(
            client.base, shop, "orders/create", tampered, "wh-2", sig=_sign(shop["secret"], body)
        ).status_code
        == 401
    )


def test_inventory_levels_update_sets_via_learned_item_id(
    client: Client, shop: dict[str, str]
) -> None:
    levels = (FIXTURES / "inventory_levels_update.json").read_bytes()
    unknown = _post(client.base, shop, "inventory_levels/update", levels, "lv-0").json()
    assert unknown["skipped"][0]["skipped"] == "unknown_inventory_item"
    item = (FIXTURES / "inventory_items_create.json").read_bytes()
    assert _post(client.base, shop, "inventory_items/create", item, "it-1").json()["applied"]
    r = _post(client.base, shop, "inventory_levels/update", levels, "lv-1")
    assert r.status_code == 200 and r.json()["applied"] == [
        {"sku": "IPOD2008PINK", "quantity_after": 6}
    ]
    assert _qty(client, "IPOD2008PINK") == 6


def test_items_owned_by_another_source_are_skipped(client: Client, shop: dict[str, str]) -> None:
    order = json.loads((FIXTURES / "orders_create.json").read_text())
    order["line_items"] = [{**order["line_items"][0], "sku": "ERP-ONLY", "quantity": 1}]
    body = json.dumps(order).encode()
    r = _post(client.base, shop, "orders/create", body, "wh-erp").json()
    assert r["applied"] == [] and r["skipped"][0]["skipped"] == "owned_by_source"
    assert _qty(client, "ERP-ONLY") == 3


def test_unknown_source_or_missing_headers(client: Client, shop: dict[str, str]) -> None:
    body = b"{}"
    r = requests.post(
        f"{client.base}/v1/incoming/shopify/nope",
        data=body,
        headers={"X-Shopify-Hmac-Sha256": _sign(shop["secret"], body), "X-Shopify-Webhook-Id": "x"},
        timeout=10,
    )
    assert r.status_code == 401
    r = requests.post(f"{client.base}/v1/incoming/shopify/{shop['source']}", data=body, timeout=10)
    assert r.status_code == 400  # the Shopify headers are required parameters
    assert r.json()["error"]["param"].lower().startswith("x-shopify-")


def test_the_secret_is_set_and_cleared_from_the_command_line(client: Client) -> None:
    """`sources set-webhook-secret` reads the secret from stdin; `--clear` refuses webhooks."""
    source, secret = f"shop-{secrets.token_hex(3)}", secrets.token_urlsafe(24)

    def cli(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "catalog_pipelines.cli", *argv, "--account", client.account],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    added = cli("sources", "add", source, "--kind", "shopify", "--owns", "content")
    assert added.returncode == 0, added.stderr
    shop = {"source": source, "secret": secret}
    body = (FIXTURES / "inventory_items_create.json").read_bytes()
    assert _post(client.base, shop, "inventory_items/create", body, "s-0").status_code == 401

    empty = cli("sources", "set-webhook-secret", source)
    assert empty.returncode == 2 and "no secret on stdin" in empty.stderr
    short = cli("sources", "set-webhook-secret", source, stdin="abc\n")
    assert short.returncode == 2 and "16 to 512" in short.stderr
    done = cli("sources", "set-webhook-secret", source, stdin=secret + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"(ending ...{secret[-4:]})")
    assert secret not in cli("sources", "show", source, "--json").stdout
    assert _post(client.base, shop, "inventory_items/create", body, "s-1").status_code == 200

    cleared = cli("sources", "set-webhook-secret", source, "--clear")
    assert cleared.returncode == 0 and "removed" in cleared.stdout
    assert _post(client.base, shop, "inventory_items/create", body, "s-2").status_code == 401
    missing = cli("sources", "set-webhook-secret", "no-such-source", stdin=secret + "\n")
    assert missing.returncode == 2 and "no such source" in missing.stderr
