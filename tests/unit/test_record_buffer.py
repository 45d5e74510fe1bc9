"""Records gathered a block at a time come out as polars would have built them from the
whole list: metadata given as a mapping or as key/value dicts, none (null) or empty ([])."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from catalog_pipelines.connectors.record_buffer import RecordBuffer
from catalog_pipelines.normalized import VARIANT_SCHEMA, kv


def _variant(i: int) -> dict[str, Any]:
    metadata = {"Grams": str(i), "Barcode": f"b{i}"} if i % 3 else {}
    return {
        "row_number": i,
        "product_external_id": f"p{i // 2}",
        "variant_key": f"SKU-{i}",
        "sku": None if i % 4 == 0 else f"SKU-{i}",
        "currency": "usd",
        "unit_amount": 100 * i,
        "options": None if i % 5 == 0 else {"Size": f"S{i}", "Colour": "red"},
        "metadata": metadata,
        "inventory_quantity": i,
        # nickname, inventory_policy and active left out: null
    }


@pytest.mark.parametrize("block", [1, 4, 1_000])
def test_a_buffer_builds_the_frame_polars_builds_from_the_whole_list(block: int) -> None:
    records = [_variant(i) for i in range(23)]
    as_lists = [
        {
            **r,
            "options": None if r["options"] is None else kv(r["options"]),
            "metadata": kv(r["metadata"]),
        }
        for r in records
    ]
    expected = pl.DataFrame(as_lists, schema=VARIANT_SCHEMA)
    buffer = RecordBuffer(VARIANT_SCHEMA, block=block)
    for r in records:
        buffer.append(r)
    assert len(buffer) == 23
    frame = buffer.frame()
    assert frame.equals(expected)
    assert frame["options"][0] is None and frame["metadata"][0].to_list() == []
    assert frame["metadata"][1].to_list() == [
        {"key": "Grams", "value": "1"},
        {"key": "Barcode", "value": "b1"},
    ]
    given_as_lists = RecordBuffer(VARIANT_SCHEMA, block=block)
    for r in as_lists:
        given_as_lists.append(r)
    assert given_as_lists.frame().equals(expected)


def test_an_empty_buffer_is_an_empty_frame_of_the_schema() -> None:
    frame = RecordBuffer(VARIANT_SCHEMA).frame()
    assert frame.height == 0 and frame.schema == pl.Schema(VARIANT_SCHEMA)
