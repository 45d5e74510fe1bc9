"""A first import of a large WooCommerce export is streamed: built in pieces of whole products,
each once the last row that names it is read (woocommerce_csv/pieces.py), each piece
validated and put on disk, then planned and written a part at a time (first_import.py).

Pieces of four rows and parts of five products make a small export stream. The same export
goes into two empty accounts, streamed and with streaming turned off, then again; the reports
and catalogs must be the same (ids aside).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from catalog_pipelines.connectors import row_groups
from tests.support.exports import write_csv
from tests.support.streamed import streamed_and_whole

HEADER = ["ID", "Type", "SKU", "Name", "Published", "Parent", "Regular price", "Stock",
          "Attribute 1 name", "Attribute 1 value(s)", "Tax class"]  # fmt: skip
LONG = "x" * 501  # over Stripe's 500 characters for a metadata value: a warning

Rows = list[list[str]]


def _variable(p: int, *, sku: str | None = None, published: str = "1") -> Rows:
    """A variable product and its two variations, which name it by its SKU, or by id:<ID>
    when it has none."""
    ident = str(100 + 10 * p)
    parent = sku if sku is not None else f"id:{ident}"
    tax = LONG if p in (2, 9) else "standard"
    rows = [[ident, "variable", sku or "", f"Shirt {p}", published, "", "", "", "Size", "S, M",
             tax]]  # fmt: skip
    for n, size in enumerate(("S", "M"), start=1):
        price = "x" if (p, size) == (6, "M") else f"{10 + p}.00"
        rows.append([str(100 + 10 * p + n), "variation", f"{parent}-{size}" if sku else "",
                     f"Shirt {p} {size}", "1", parent, price, "3", "Size", size, ""])  # fmt: skip
    return rows


def _export(tmp: Path) -> Path:
    rows: Rows = []
    for p in range(12):
        rows += _variable(p, sku=None if p == 4 else f"V{p}", published="7" if p == 8 else "1")
    rows[4][3] = "bad\x00name"  # a NUL cell: that variation is rejected
    rows.append(rows.pop(10))  # V3's second variation, at the end of the file
    rows.insert(20, ["300", "simple", "S1", "Mug", "1", "", "8.00", "5", "", "", ""])
    rows.insert(26, ["301", "bogus", "B1", "Thing", "1", "", "5.00", "1", "", "", ""])
    rows.append(["302", "variation", "", "Lost", "1", "NOPE", "5.00", "1", "Size", "S", ""])
    rows.append(["303", "simple", "S1", "Mug again", "1", "", "9.00", "2", "", "", ""])
    rows.append(["304", "simple", "", "No SKU", "1", "", "4.00", "1", "", "", ""])
    return write_csv(tmp / "woo.csv", HEADER, rows)


def test_a_streamed_woocommerce_first_import_writes_what_the_whole_read_writes(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    streamed: list[int],
    skipped: list[int],
) -> None:
    path = _export(tmp_path)
    first, again = streamed_and_whole(engine, monkeypatch, path, account, "woocommerce")
    # streamed in pieces, though V3's variation lies far from it and S1's SKU comes twice
    assert len(streamed) == 1 and streamed[0] >= 3
    assert list((tmp_path / "spill").iterdir()) == []
    # 12 variable products (V8 rejected: Published 7), S1 and the product without a SKU
    assert first["products"]["created"] == 13
    reasons = {row: " ".join(r) for row, r in first["rejects"]}
    assert "NUL" in reasons[5] and "is not one of simple" in reasons[27]
    assert "'V8' was rejected at row 25" in reasons[26] and "matches no product" in reasons[39]
    assert "'S1' is already used at row 21" in reasons[40]
    assert sorted(reasons) == [5, 20, 25, 26, 27, 28, 39, 40]  # V6-M's price, V8's other row
    assert [w for w in first["warnings"] if "Stripe" in w] == [
        f"product {key!r} (row {row}): values longer than 500 characters under: 'Tax class';"
        " kept in full here, but Stripe would refuse it"
        for key, row in (("V2", 7), ("V9", 29))
    ]
    # the streamed import took the prints: the second import skips what it can
    assert again["events"] == 0
    # all but V1, V6 and S1, whose rows were rejected
    assert skipped == [0, 10, 0, 10]


def test_an_export_that_would_hold_too_many_rows_streams_from_disk_with_the_same_outcome(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    streamed: list[int],
    skipped: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # the export above, every row put on disk in buckets of about five rows of whole
    # products, built a bucket at a time
    path = _export(tmp_path)
    monkeypatch.setattr(row_groups, "MAX_HELD", 0)
    monkeypatch.setattr(row_groups, "BUCKET_ROWS", 5)
    with caplog.at_level(logging.INFO, logger="catalog_pipelines"):
        first, again = streamed_and_whole(engine, monkeypatch, path, account, "woocommerce")
    assert "built from buckets on disk" in caplog.text and "read whole" not in caplog.text
    assert len(streamed) == 1 and streamed[0] >= 3
    assert list((tmp_path / "spill").iterdir()) == []
    assert first["products"]["created"] == 13
    assert sorted(row for row, _ in first["rejects"]) == [5, 20, 25, 26, 27, 28, 39, 40]
    assert again["events"] == 0 and skipped == [0, 10, 0, 10]


def test_an_export_whose_prints_cannot_be_taken_streams_without_them(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    streamed: list[int],
    skipped: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    rows: Rows = []
    for p in range(6):
        rows += _variable(p, sku=f"V{p}")
    rows[4][5] = "id:110"  # a variation names by id:<ID> a parent keyed by its SKU
    path = write_csv(tmp_path / "woo.csv", HEADER, rows)
    with caplog.at_level(logging.INFO, logger="catalog_pipelines"):
        first, again = streamed_and_whole(engine, monkeypatch, path, account, "woocommerce")
    assert len(streamed) == 1 and "read whole" not in caplog.text
    assert "read without fingerprints" in caplog.text
    assert first["products"]["created"] == 6 and first["rejects"] == []
    # no snapshot, so the second import processed every product (it changed nothing)
    assert again["events"] == 0 and skipped == [-1, -1, -1, -1]
