"""A SKU with reserved characters is reachable through the real server, percent-encoded or by
its `inv_` id, for GET, adjust and set; and through `catalog-sync inventory show`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from catalog_pipelines.cli import main
from catalog_pipelines.store.sources import add_source
from tests.e2e.conftest import new_client

SKUS = ["a/b", "what?", "no#1", "100%", "two words", "café-ü-日本", "a/b/adjust", "/lead"]
MAPPING = """\
format: csv
key: handle
currency: usd
fields:
  name: title
  price: price
  sku: sku
  inventory_quantity: qty
"""


@pytest.fixture
def stocked(engine: sa.Engine, api_server: str, tmp_path: Path, capsys):  # type: ignore[no-untyped-def]
    client = new_client(engine, api_server)
    with engine.begin() as conn:  # the catalog owns the stock, so the API may change it
        add_source(conn, account_id=client.account, name="sheet", kind="csv",
                   owns=frozenset({"content", "pricing"}))  # fmt: skip
    csv_path = tmp_path / "skus.csv"
    lines = ["handle,title,price,sku,qty"]
    lines += [f'h{i},P{i},1.00,"{sku}",10' for i, sku in enumerate(SKUS)]
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(MAPPING)
    code = main(["import", str(csv_path), "--source", "sheet", "--mapping", str(mapping),
                 "--account", client.account])  # fmt: skip
    capsys.readouterr()
    assert code == 0
    return client


def test_reserved_characters_reach_the_item(stocked) -> None:  # type: ignore[no-untyped-def]
    client = stocked
    for sku in SKUS:
        path = "/v1/inventory_items/" + quote(sku, safe="")
        got = client.get(path)
        assert got.status_code == 200, (sku, got.text)
        item = got.json()
        assert item["sku"] == sku and item["quantity"] == 10

        adjusted = client.post(path + "/adjust", data={"delta": "-3"})
        assert adjusted.status_code == 200, (sku, adjusted.text)
        assert adjusted.json()["quantity"] == 7

        by_id = client.post(f"/v1/inventory_items/{item['id']}/set", data={"quantity": "4"})
        assert by_id.status_code == 200, (sku, by_id.text)
        assert by_id.json()["sku"] == sku and by_id.json()["quantity"] == 4
        assert client.get(f"/v1/inventory_items/{item['id']}").json()["quantity"] == 4

    assert client.get("/v1/inventory_items/" + quote("a/", safe="")).status_code == 404
    assert client.get("/v1/inventory_items/inv_doesnotexist").status_code == 404


def test_cli_inventory_show_takes_the_sku_or_the_id(stocked) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ}
    for sku in ("a/b", "no#1", "café-ü-日本"):
        proc = subprocess.run(
            [sys.executable, "-m", "catalog_pipelines.cli", "inventory", "show", sku,
             "--account", stocked.account, "--json"],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        item = json.loads(proc.stdout)
        assert item["sku"] == sku
        code = main(["inventory", "show", item["id"], "--account", stocked.account, "--json"])
        assert code == 0
