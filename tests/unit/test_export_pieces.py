"""A shop export read a piece of the file at a time is the export read whole, to the row: the
real exports cut into pieces of a few hundred bytes, through products, variations that name
their parents further down, configurables and store views."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from catalog_pipelines.connectors.magento_csv import read_magento_csv
from catalog_pipelines.connectors.shopify_csv import read_shopify_csv
from catalog_pipelines.connectors.woocommerce_csv import read_woocommerce_csv
from catalog_pipelines.normalized import ParsedBatch
from tests.support.export_pieces import assert_same_batch, read_in_pieces, read_whole

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
    whole = read_whole(reader, REAL / name, monkeypatch)
    pieces, walked = read_in_pieces(reader, REAL / name, monkeypatch, 400)
    assert len(walked) > 3  # the header's piece, then pieces of each walk
    assert_same_batch(pieces, whole)
