"""A shop export read a piece of the file at a time is the export read whole, to the row: the
real exports cut into pieces of a few hundred bytes, through products, variations that name
their parents further down, configurables and store views."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog_pipelines.connectors import csv_pieces, export_rows
from catalog_pipelines.connectors.magento_csv import read_magento_csv
from catalog_pipelines.connectors.shopify_csv import read_shopify_csv
from catalog_pipelines.connectors.woocommerce_csv import read_woocommerce_csv
from catalog_pipelines.normalized import ParsedBatch

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"


@pytest.mark.parametrize(
    ("reader", "name"),
    [
        (read_shopify_csv, "shopify_product_template.csv"),
        (read_woocommerce_csv, "woocommerce_sample_products.csv"),
        (read_magento_csv, "magento2_catalog_product.csv"),
    ],
)
def test_a_real_export_read_in_pieces_is_the_export_read_whole(
    reader: Callable[[Path], ParsedBatch], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = REAL / name
    monkeypatch.setattr(csv_pieces, "PIECE_BYTES", 1 << 30)
    whole = reader(path)
    monkeypatch.setattr(csv_pieces, "PIECE_BYTES", 400)
    walked: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for table in csv_pieces.csv_pieces(*args, **kwargs):
            walked.append(table.records)
            yield table

    def not_whole(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("read whole")

    monkeypatch.setattr(export_rows, "csv_pieces", counted)
    monkeypatch.setattr(export_rows, "decode_to_utf8", not_whole)
    pieces = reader(path)
    pieces.check_reconciles()
    assert len(walked) > 3  # the header's piece, then pieces of each walk
    assert pieces.rows_read == whole.rows_read > 0
    assert pieces.products.equals(whole.products)
    assert pieces.variants.equals(whole.variants)
    assert [(r.row_number, r.reasons, r.raw) for r in pieces.rejects] == [
        (r.row_number, r.reasons, r.raw) for r in whole.rejects
    ]
    assert pieces.warnings == whole.warnings
    assert pieces.unmapped_columns == whole.unmapped_columns
