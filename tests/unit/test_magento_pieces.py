"""Which rows of a Magento export are built together (magento_csv/pieces.py): the rows that
share a SKU, a configurable's and those of the children its `configurable_variations` names,
so that pieces of whole groups build what the whole file builds."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import pytest

from catalog_pipelines.connectors import csv_pieces, row_groups
from catalog_pipelines.connectors.cells import NotInPieces
from catalog_pipelines.connectors.export_rows import ExportRows
from catalog_pipelines.connectors.magento_csv import (
    pieces,
    read_magento_csv,
    read_magento_pieces,
)
from catalog_pipelines.connectors.magento_csv.helpers import build_batch
from catalog_pipelines.normalized import ROW_NUMBER, ParsedBatch
from tests.support.export_pieces import apart, assert_same_batch, joined, read_whole
from tests.support.exports import write_csv
from tests.support.magento_export import magento_export

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HEADER = ["sku", "store_view_code", "product_type", "name", "price", "qty",
          "configurable_variations"]  # fmt: skip


def _frame(rows: list[list[str]]) -> pl.DataFrame:
    cells = {c: [r[i] or None for r in rows] for i, c in enumerate(HEADER)}
    numbers = list(range(1, len(rows) + 1))
    return pl.DataFrame(
        {**cells, ROW_NUMBER: numbers}, schema_overrides=dict.fromkeys(cells, pl.Utf8)
    )


def test_a_configurable_and_the_children_it_names_are_one_group() -> None:
    rows = [
        ["A-1", "", "simple", "A one", "5", "1", ""],  # 1
        ["B", "", "configurable", "B", "", "", "sku=B-1,color=Red, Blue|sku = B-2 ,size=M"],
        ["A", "", "configurable", "A", "", "", "color=Red,sku=A-1"],  # 3: sku= second
        ["B-2", "", "simple", "B two", "5", "1", ""],  # 4
        ["A", "de", "configurable", "A (de)", "", "", ""],  # 5: A's translation
        ["C", "", "simple", "C", "5", "1", "sku=,x=1"],  # 6: names no child
        ["B-1", "", "simple", "B one", "5", "1", ""],  # 7
    ]
    groups = row_groups.Groups.of([_frame(rows[:4]), _frame(rows)[4:]], pieces.names)
    done = groups.complete(_frame(rows), 7)
    assert list(zip(done[ROW_NUMBER], done["_group"], strict=True)) == [
        (1, 1), (2, 2), (3, 1), (4, 2), (5, 1), (6, 6), (7, 2)
    ]  # fmt: skip
    assert groups.held == 4  # rows 1 to 4 wait once row 4 is read; A completes at row 5


def test_a_sku_that_python_strips_otherwise_is_not_read_in_pieces() -> None:
    rows = [["A\x1d", "", "simple", "A", "5", "1", ""]]
    with pytest.raises(NotInPieces, match="separator"):
        row_groups.Groups.of([_frame(rows)], pieces.names)


def _pieces(path: Path) -> list[ParsedBatch]:
    return list(read_magento_pieces(path, currency="usd", piece_variants=1))


@pytest.mark.parametrize("on_disk", [False, True], ids=["held", "buckets"])
@pytest.mark.parametrize("name", ["real/magento2_catalog_product.csv", "magento_configurable.csv"])
def test_an_export_in_the_smallest_pieces_is_the_export_read_whole(
    name: str, on_disk: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = FIXTURES / name
    whole = read_whole(read_magento_csv, path, monkeypatch)
    monkeypatch.setattr(csv_pieces, "PIECE_BYTES", 400)
    if on_disk:
        monkeypatch.setattr(row_groups, "MAX_HELD", -1)  # every file, even one that waits for none
        monkeypatch.setattr(row_groups, "BUCKET_ROWS", 2)
    with caplog.at_level(logging.INFO, logger="catalog_pipelines"):
        given = _pieces(path)
    assert ("built from buckets on disk" in caplog.text) == on_disk
    assert len(given) == whole.products.height > 1  # a piece a product
    apart(given)
    one = joined(given)
    assert pl.concat([p.products for p in given]).equals(one.products)  # in file order
    assert_same_batch(one, whole)


def test_an_export_without_configurables_or_rows_reads_in_pieces(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "m.csv", ["sku", "product_type", "price"], [])
    (piece,) = _pieces(path)
    assert (piece.rows_read, piece.products.height, piece.rejects) == (0, 0, [])
    path = write_csv(tmp_path / "m.csv", ["sku", "product_type", "price"], [["A", "simple", "1"]])
    (piece,) = _pieces(path)
    assert piece.products["external_id"].to_list() == ["A"]


@pytest.mark.parametrize("on_disk", [False, True], ids=["held", "buckets"])
def test_the_whole_batch_built_in_pieces_is_the_batch_built_from_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_disk: bool
) -> None:
    # a re-import builds the whole batch from pieces: in the rows' own order, warnings too
    path = magento_export(tmp_path)
    rows = ExportRows(path, source=str(path), encoding=None, whole=False)
    expected = build_batch(rows, rows.columns, source=str(path), currency="usd")
    assert expected.warnings and expected.rejects  # something to put in order
    monkeypatch.setattr(csv_pieces, "PIECE_BYTES", 300)
    monkeypatch.setattr(pieces, "PIECE_ROWS", 1)
    if on_disk:
        monkeypatch.setattr(row_groups, "MAX_HELD", -1)
        monkeypatch.setattr(row_groups, "BUCKET_ROWS", 3)
    rows = ExportRows(path, source=str(path), encoding=None, whole=False)
    got = pieces.build_whole(rows, rows.columns, source=str(path), currency="usd")
    assert_same_batch(got, expected)
    assert got.products["row_number"].is_sorted()
