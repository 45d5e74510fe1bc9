"""A frame mapped a chunk of rows at a time (mapping/chunks.py) gives the batch that mapping it
whole gives, whenever `independent` lets it be chunked; and `independent` says no whenever
rows in two chunks could be related by a key, a parent key or a SKU."""

from __future__ import annotations

import random

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from catalog_pipelines.connectors.reading import read_csv_strings
from catalog_pipelines.mapping import apply_mapping, mapping_from_dict
from catalog_pipelines.mapping.chunks import identity_tokens, independent, map_in_chunks
from catalog_pipelines.normalized import ParsedBatch, Reject

MAPPING = mapping_from_dict(
    {
        "format": "csv",
        "key": "id",
        "parent_key": "parent",
        "currency": "usd",
        "fields": {
            "name": "name",
            "price": "price",
            "sku": "sku",
            "inventory_quantity": "qty",
            "images": "image",
            "option.size": "size",
        },
    },
    where="test",
)
HEADER = "id,parent,name,price,sku,qty,image,size,brand\n"


def _product(rng: random.Random, n: int) -> list[str]:
    """The rows of product P<n>: a product row, and now and then extra image rows, child
    variants, a bad cell, a conflicting name or a SKU repeated within the product."""
    key = f"P{n}"
    price = rng.choice(["10.00", '"1,299.00"', "abc", "", "12.5"])
    qty = rng.choice(["3", "0", "-1", "2.0", ""])
    rows = [f" {key},,Name {n},{price},S{n},{qty},http://i/{n}.png,M,Brand{n % 3}"]
    for extra in range(rng.choice([0, 0, 1, 2])):
        kind = rng.choice(["image", "child", "conflict", "dup-sku", "no-key"])
        if kind == "image":
            rows.append(f"{key},,,,,,http://i/{n}-{extra}.png,,")
        elif kind == "child":
            rows.append(f"{key}-{extra},{key},Name {n} {extra},11.00,S{n}-{extra},1,,L,")
        elif kind == "conflict":
            rows.append(f"{key},,Other name,,,,,,")
        elif kind == "dup-sku":
            rows.append(f"{key}-{extra},{key},,11.00,S{n},1,,XL,")
        else:
            rows.append(f",,Nameless,1.00,,,,,{n}")
    return rows


def _frame(rows: list[str]) -> pl.DataFrame:
    frame, _ = read_csv_strings(HEADER + "\n".join(rows) + "\n", source="t.csv")
    return frame


def _slices(frame: pl.DataFrame, size: int) -> list[pl.DataFrame]:
    return [frame.slice(start, size) for start in range(0, frame.height, size)]


def _comparable(batch: ParsedBatch) -> tuple[object, ...]:
    rejects = [(r.row_number, r.reasons, r.raw) for r in batch.rejects]
    return rejects, batch.rows_read, batch.rows_valid, batch.columns, batch.unmapped_columns


def _assert_same(chunked: ParsedBatch, whole: ParsedBatch) -> None:
    assert_frame_equal(chunked.products, whole.products)
    assert_frame_equal(chunked.variants, whole.variants)
    assert _comparable(chunked) == _comparable(whole)


@pytest.mark.parametrize("seed", range(12))
def test_chunks_of_whole_products_map_as_the_whole_frame(seed: int) -> None:
    rng = random.Random(seed)
    rows: list[str] = []
    bounds = []  # where a chunk may end: after a product's last row
    for n in range(60):
        rows += _product(rng, n)
        bounds.append(len(rows))
    frame = _frame(rows)
    ends = sorted(rng.sample(bounds[:-1], 3)) + [len(rows)]
    chunks = [frame.slice(a, b - a) for a, b in zip([0, *ends], ends, strict=False)]
    reader_reject = Reject(len(rows) + 1, {"id": "X"}, ["row: has 12 fields"])
    whole = apply_mapping(frame, MAPPING, source="t.csv", rows_read=frame.height + 1,
                          rejects=[reader_reject])  # fmt: skip
    assert independent([identity_tokens(c, MAPPING) for c in chunks])
    chunked = map_in_chunks(
        iter(chunks), MAPPING, source="t.csv", rows_read=frame.height + 1, rejects=[reader_reject]
    )
    _assert_same(chunked, whole)
    assert whole.rejects and whole.products.height  # the scenario has both


@pytest.mark.parametrize(
    "rows",
    [
        # one product's rows in two chunks: the later row merges into, or conflicts with, it
        ["P1,,Shirt,10.00,S1,1,,,", "P2,,Hat,10.00,S2,1,,,", "P1,,Other,,,,,,"],
        # a child row in another chunk than its parent
        ["P1,,Shirt,10.00,S1,1,,,", "P2,,Hat,10.00,S2,1,,,", "P1-L,P1,,11.00,S1L,1,,L,"],
        # a SKU used in two chunks: the later row is rejected
        ["P1,,Shirt,10.00,S1,1,,,", "P2,,Hat,10.00,S2,1,,,", "P3,,Cap,10.00,S1,1,,,"],
        # a child's key that is another product's SKU (both variant keys)
        ["P1,,Shirt,10.00,,1,,,", "P2,,Hat,10.00,X,1,,,", "X,P1,,11.00,,1,,L,"],
        # the same key with surrounding blanks
        ["P1,,Shirt,10.00,S1,1,,,", "P2,,Hat,10.00,S2,1,,,", " P1 ,,Other,,,,,,"],
    ],
)
def test_rows_that_relate_across_chunks_keep_the_frame_whole(rows: list[str]) -> None:
    frame = _frame(rows)
    chunks = _slices(frame, 2)
    assert not independent([identity_tokens(c, MAPPING) for c in chunks])


def test_a_mapping_without_a_key_relates_rows_by_sku() -> None:
    stock = mapping_from_dict(
        {"format": "csv", "fields": {"sku": "sku", "inventory_quantity": "qty"}}, where="test"
    )
    frame, _ = read_csv_strings("sku,qty\nA,1\nB,2\nA,3\n", source="t.csv")
    assert not independent([identity_tokens(c, stock) for c in _slices(frame, 2)])
    assert independent([identity_tokens(c, stock) for c in _slices(frame.head(2), 1)])
