"""API writes must hash an object exactly as the importer does, or the next import would
see a change that is not there (or miss one)."""

from __future__ import annotations

import polars as pl
import pytest

from catalog_pipelines.content import (
    hash_series,
    inventory_content,
    price_content,
    product_content,
)
from catalog_pipelines.normalized import KV
from catalog_pipelines.store import objects

PRODUCTS = [
    {
        "name": "Tee",
        "description": None,
        "active": True,
        "images": [],
        "url": None,
        "shippable": None,
        "tax_code": None,
        "unit_label": None,
        "metadata": {},
    },
    {
        "name": 'Ünïcode "quoted"\n\ttab \u2028 \x01',
        "description": "<p>x</p>",
        "active": False,
        "images": ["https://a/b.png", "https://c/d.jpg"],
        "url": "https://shop/x",
        "shippable": True,
        "tax_code": "txcd_1",
        "unit_label": "kg",
        "metadata": {"z": "1", "a": "é", "m": "\\"},
    },
]


@pytest.mark.parametrize("p", PRODUCTS)
def test_product_hash_matches_importer(p: dict) -> None:
    df = pl.DataFrame(
        [{**p, "metadata": [{"key": k, "value": v} for k, v in p["metadata"].items()]}],
        schema={
            "name": pl.Utf8,
            "description": pl.Utf8,
            "active": pl.Boolean,
            "images": pl.List(pl.Utf8),
            "url": pl.Utf8,
            "shippable": pl.Boolean,
            "tax_code": pl.Utf8,
            "unit_label": pl.Utf8,
            "metadata": KV,
        },
    )
    expected = hash_series(df.select(product_content().alias("c"))["c"])[0]
    assert objects.product_hash(p) == expected


@pytest.mark.parametrize(
    "p",
    [
        {
            "currency": "usd",
            "unit_amount": 1999,
            "lookup_key": "SKU-1",
            "nickname": None,
            "metadata": {"size": "M", "color": "red"},
            "active": True,
        },
        {
            "currency": "jpy",
            "unit_amount": 0,
            "lookup_key": None,
            "nickname": "n\u00e4",
            "metadata": {},
            "active": False,
        },
    ],
)
def test_price_hash_matches_importer(p: dict) -> None:
    df = pl.DataFrame(
        [
            {
                "currency": p["currency"],
                "unit_amount": p["unit_amount"],
                "sku": p["lookup_key"],
                "nickname": p["nickname"],
                "options": [{"key": k, "value": v} for k, v in p["metadata"].items()],
                "metadata": [],
                "active": p["active"],
            }
        ],
        schema={
            "currency": pl.Utf8,
            "unit_amount": pl.Int64,
            "sku": pl.Utf8,
            "nickname": pl.Utf8,
            "options": KV,
            "metadata": KV,
            "active": pl.Boolean,
        },
    )
    expected = hash_series(df.select(price_content().alias("c"))["c"])[0]
    assert objects.price_hash(p) == expected


def test_inventory_hash_matches_importer() -> None:
    df = pl.DataFrame(
        {"quantity": [7], "policy": ["deny"]}, schema={"quantity": pl.Int64, "policy": pl.Utf8}
    )
    # the inventory key is not hashed: SQL computes the same text in a stock adjustment
    assert objects.inventory_hash(7, "deny") == df.select(inventory_content())[0, 0] == "7:deny"
