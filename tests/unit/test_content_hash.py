"""The stored content hashes must not move with a library upgrade: if they did, the next
import would see every object as changed and write a version of each. These pin the exact
canonical bytes and digests; a change here is a data migration, not a refactor."""

from __future__ import annotations

import polars as pl

from catalog_pipelines.content import hash_series, inventory_content, price_content, product_content
from catalog_pipelines.normalized import PRODUCT_SCHEMA, VARIANT_SCHEMA


def _one(schema: dict[str, pl.DataType], **values: object) -> pl.DataFrame:
    return pl.DataFrame([{k: values.get(k) for k in schema}], schema=schema)


def test_product_content_bytes_and_digest_are_pinned() -> None:
    df = _one(
        PRODUCT_SCHEMA,
        external_id="tee",
        name='Tee "classic" é',
        description=None,
        active=False,  # not part of the content: compared on its own
        images=["https://a/1.jpg"],
        metadata=[
            {"key": "z", "value": "1"},
            {"key": "a", "value": "x\ny"},
            {"key": "gone", "value": None},
        ],
    )
    content = df.select(product_content().alias("c"))["c"]
    assert content[0] == (
        '{"name":"Tee \\"classic\\" é","description":null,"images":["https://a/1.jpg"],'
        '"url":null,"shippable":null,"tax_code":null,"unit_label":null,'
        '"metadata":[{"key":"a","value":"x\\ny"},{"key":"z","value":"1"}]}'
    )
    assert hash_series(content)[0] == "4b86eeaad2c8599ae0fad1aff22818a8"  # BLAKE2b-128


def test_price_and_inventory_content_are_pinned() -> None:
    df = _one(
        VARIANT_SCHEMA,
        sku="TEE-1",
        currency="usd",
        unit_amount=1999,
        options=[{"key": "Size", "value": "M"}],
    )
    content = df.select(price_content().alias("c"))["c"]
    assert content[0] == (
        '{"currency":"usd","unit_amount":1999,"lookup_key":"TEE-1","nickname":null,'
        '"metadata":[{"key":"Size","value":"M"}]}'
    )
    stock = pl.DataFrame({"quantity": [5], "policy": ["deny"]})
    assert stock.select(inventory_content())[0, 0] == "5:deny"
