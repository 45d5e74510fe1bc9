"""Which rows of a WooCommerce export are built together (woocommerce_csv/pieces.py): the rows
that share a name (a product's SKU or id:<ID>, a variation's Parent), and those that share one
with them, so that pieces of whole groups build what the whole file builds."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import polars as pl
import pytest

from catalog_pipelines.connectors import csv_pieces, row_groups
from catalog_pipelines.connectors.cells import NotInPieces
from catalog_pipelines.connectors.woocommerce_csv import (
    pieces,
    read_woocommerce_csv,
    read_woocommerce_pieces,
)
from catalog_pipelines.normalized import ROW_NUMBER, ParsedBatch
from tests.support.export_pieces import apart, assert_same_batch, joined, read_whole
from tests.support.exports import write_csv

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
SAMPLE = REAL / "woocommerce_sample_products.csv"
COLUMNS = ("ID", "Type", "SKU", "Parent")


def _frame(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    cells = {c: [r[i] or None for r in rows] for i, c in enumerate(COLUMNS)}
    numbers = list(range(1, len(rows) + 1))
    return pl.DataFrame(
        {**cells, ROW_NUMBER: numbers}, schema_overrides=dict.fromkeys(cells, pl.Utf8)
    )


ROWS = [
    ("10", "variable", "V1", ""),  # 1
    ("11", "variation", "V1-S", "V1"),  # 2
    ("12", "simple", "S1", ""),  # 3
    ("20", "variable", "", ""),  # 4: no SKU, named by id:20
    ("21", "variation", "", "id:20"),  # 5
    ("22", "variation, virtual", "", "V1"),  # 6: V1's, added later
    ("23", "simple", "S2", ""),  # 7
    ("24", "variation", "", "id:10"),  # 8: V1's too, by its id
]


def _groups(frames: list[pl.DataFrame]) -> row_groups.Groups:
    return row_groups.Groups.of(frames, pieces.names)


def _complete(groups: row_groups.Groups, read: int) -> list[tuple[int, int]]:
    done = groups.complete(_frame(ROWS), read)
    return list(zip(done[ROW_NUMBER], done["_group"], strict=True))


def test_rows_that_share_a_name_are_complete_once_the_last_of_them_is_read() -> None:
    groups = _groups([_frame(ROWS[:3]), _frame(ROWS)[3:]])
    assert _complete(groups, 4) == [(3, 3)]
    assert _complete(groups, 7) == [(3, 3), (4, 4), (5, 4), (7, 7)]
    # V1's rows, by its SKU and by its id, are one group: complete at row 8
    assert _complete(groups, 8) == [(1, 1), (2, 1), (3, 3), (4, 4), (5, 4), (6, 1), (7, 7),
                                    (8, 1)]  # fmt: skip


def test_the_most_rows_waiting_at_once_are_counted() -> None:
    assert _groups([_frame(ROWS[:5])]).held == 1
    assert _groups([_frame(ROWS)]).held == 3  # V1 and two of its variations


def test_buckets_hold_whole_groups_in_the_order_of_their_first_rows() -> None:
    groups = _groups([_frame(ROWS)])
    # groups by first row: 1 (rows 1, 2, 6, 8), 3, 4 (rows 4, 5), 7; closed past 3 rows
    buckets = groups.buckets(_frame(ROWS), 3)
    assert {n: b[ROW_NUMBER].to_list() for n, b in buckets.items()} == {
        0: [1, 2, 6, 8],
        1: [3, 4, 5],
        2: [7],
    }
    assert buckets[1]["_group"].to_list() == [3, 4, 4]


def test_a_name_that_python_strips_otherwise_is_not_read_in_pieces() -> None:
    rows = [*ROWS[:1], ("11", "variation", "V1-S", "V1\x1c")]
    with pytest.raises(NotInPieces, match="separator"):
        _groups([_frame(rows)])


def _pieces(path: Path) -> list[ParsedBatch]:
    return list(read_woocommerce_pieces(path, currency="usd", piece_variants=1))


def _apart(given: list[ParsedBatch]) -> None:
    assert len(given) > 15  # each variable product with its variations, each other product
    apart(given)


def test_the_real_export_in_the_smallest_pieces_is_the_export_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # WooCommerce writes rows in the order of their ids, and the sample's variations were
    # made after all of its products: the first names a product of row 1 at row 15. Read in
    # pieces of a row or two, its simple products come before its variable ones.
    whole = read_whole(read_woocommerce_csv, SAMPLE, monkeypatch)
    monkeypatch.setattr(csv_pieces, "PIECE_BYTES", 400)
    given = _pieces(SAMPLE)
    _apart(given)
    assert given[0].products["external_id"][0] == "woo-hoodie-with-logo"  # row 3
    assert_same_batch(joined(given), whole)


def test_the_real_export_built_from_buckets_on_disk_is_in_file_order(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # more rows would wait than allowed: each row goes to disk in its bucket, and the
    # buckets are built in the order of their first rows, as the whole file is
    whole = read_whole(read_woocommerce_csv, SAMPLE, monkeypatch)
    monkeypatch.setattr(csv_pieces, "PIECE_BYTES", 400)
    monkeypatch.setattr(row_groups, "MAX_HELD", 1)
    monkeypatch.setattr(row_groups, "BUCKET_ROWS", 3)
    with caplog.at_level(logging.INFO, logger="catalog_pipelines"):
        given = _pieces(SAMPLE)
    assert "built from buckets on disk" in caplog.text
    _apart(given)
    one = joined(given)
    assert pl.concat([p.products for p in given]).equals(one.products)  # in file order
    assert_same_batch(one, whole)


def test_an_export_whose_variations_follow_their_products_is_read_in_file_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the sample as a store writes it whose variations were made with their products
    text = SAMPLE.read_text(encoding="utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))
    kind, parent, sku = (header.index(c) for c in ("Type", "Parent", "SKU"))

    def place(row: list[str]) -> tuple[int, int]:
        named = row[parent] if row[kind] == "variation" else row[sku]
        first = next(i for i, r in enumerate(rows) if r[sku] == named or r is row)
        return first, rows.index(row)

    path = write_csv(tmp_path / "woo.csv", header, sorted(rows, key=place))
    whole = read_whole(read_woocommerce_csv, path, monkeypatch)
    monkeypatch.setattr(csv_pieces, "PIECE_BYTES", 400)
    given = _pieces(path)
    _apart(given)
    one = joined(given)
    assert pl.concat([p.products for p in given]).equals(one.products)  # in file order
    assert_same_batch(one, whole)


def test_a_file_of_a_header_alone_is_one_empty_piece(tmp_path: Path) -> None:
    header = SAMPLE.read_text(encoding="utf-8-sig").splitlines()[0]
    path = tmp_path / "woo.csv"
    path.write_text(header + "\n", encoding="utf-8")
    (piece,) = _pieces(path)
    assert (piece.rows_read, piece.products.height, piece.rejects) == (0, 0, [])
