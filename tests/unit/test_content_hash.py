"""The stored content hashes must not move with a library upgrade: if they did, the next
import would see every object as changed and write a version of each. These pin the exact
canonical bytes and digests; a change here is a data migration, not a refactor."""

from __future__ import annotations

import polars as pl

from catalog_pipelines.content import (
    hash_series,
    hash_text,
    inventory_content,
    is_legacy,
    legacy_hash_series,
    price_content,
    product_content,
)
from catalog_pipelines.diff import compare_hashes
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
    # xxh3-128, versioned; the digest of the reference implementation (python-xxhash)
    assert hash_series(content)[0] == "x3:72831517528732575737685346475427137613"
    # what catalogs stored before the x3 version: still recognised (below)
    assert legacy_hash_series(content)[0] == "4b86eeaad2c8599ae0fad1aff22818a8"


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


def test_xxh3_digest_is_the_reference_one() -> None:
    """xxh3-128 of b"hello" from the reference C implementation: the plugin must agree."""
    digest = hash_series(pl.Series(["hello", ""]))
    assert digest.to_list() == [
        "x3:241804000618833338782870102822322583576",
        "x3:204254712233039002205064565430793619839",
    ]


def _joined(old_hashes: list[str | None], contents: list[str]) -> pl.DataFrame:
    df = pl.DataFrame(
        {"k": [str(i) for i in range(len(contents))], "c": contents, "old_hash": old_hashes},
        schema={"k": pl.Utf8, "c": pl.Utf8, "old_hash": pl.Utf8},
    )
    return df.with_columns(content_hash=hash_series(df["c"]))


def test_legacy_stored_hash_of_the_same_content_is_unchanged_and_upgraded() -> None:
    same, moved = '{"name":"a"}', '{"name":"b"}'
    legacy_same = legacy_hash_series(pl.Series([same]))[0]
    legacy_moved = legacy_hash_series(pl.Series([same]))[0]  # stored when the name was "a"
    current = hash_series(pl.Series([same]))[0]
    out = compare_hashes(
        _joined([legacy_same, legacy_moved, current, None], [same, moved, same, same]),
        pl.col("c"),
        "k",
    )
    assert out["hash_differs"].to_list() == [False, True, False, None]
    assert out["upgrade_hash"].to_list() == [True, False, False, False]


def test_only_hashes_without_the_version_are_legacy() -> None:
    hashes = pl.DataFrame({"h": ["x3:1", "4b86eeaad2c8599ae0fad1aff22818a8", None]})
    assert hashes.select(is_legacy(pl.col("h")))["h"].to_list() == [False, True, None]


def test_one_object_hashes_as_the_bulk_path_does() -> None:
    """API writes and reverts hash one object with python-xxhash, imports hash columns in
    Polars: a difference would make the next import rewrite every object written one at a
    time. Texts with quotes, escapes, astral characters and no characters at all."""
    texts = [
        "",
        '{"name":"Tee \\"classic\\" é"}',
        "line\nbreak\ttab \u0001 ctrl",
        "名前 ☃ 😀 \U0010fffd",
        "x" * 100_000,
        *(f'{{"n":{i},"s":"{chr(0x20 + i * 37 % 0x2F000)}"}}' for i in range(500)),
    ]
    bulk = hash_series(pl.Series("c", texts, dtype=pl.Utf8)).to_list()
    assert [hash_text(t) for t in texts] == bulk
