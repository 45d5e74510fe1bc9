"""A first import of a large Magento export is streamed: built in pieces of whole products,
each once the last row that names it is read (magento_csv/pieces.py), each piece validated
and put on disk, then planned and written a part at a time (first_import.py).

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
from tests.support.magento_export import HEADER, Rows, configurable, magento_export
from tests.support.streamed import streamed_and_whole


@pytest.mark.parametrize("on_disk", [False, True], ids=["held", "buckets"])
def test_a_streamed_magento_first_import_writes_what_the_whole_read_writes(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    streamed: list[int],
    caplog: pytest.LogCaptureFixture,
    on_disk: bool,
) -> None:
    path = magento_export(tmp_path)
    if on_disk:  # every row on disk, in buckets of about five rows of whole products
        monkeypatch.setattr(row_groups, "MAX_HELD", 0)
        monkeypatch.setattr(row_groups, "BUCKET_ROWS", 5)
    with caplog.at_level(logging.INFO, logger="catalog_pipelines"):
        first, again = streamed_and_whole(
            engine, monkeypatch, path, account, "magento", warnings_in_any_order=not on_disk
        )
    assert ("built from buckets on disk" in caplog.text) == on_disk
    assert "read whole" not in caplog.text
    # streamed in pieces, though C1's child lies far from it and S1's SKU comes twice
    assert len(streamed) == 1 and streamed[0] >= 3
    assert list((tmp_path / "spill").iterdir()) == []
    # 9 configurables (C6 rejected), S1, G1 and N1
    assert first["products"]["created"] == 12
    reasons = {row: " ".join(r) for row, r in first["rejects"]}
    assert "price" in reasons[9] and "product_online" in reasons[28]
    assert "which was rejected at row 28" in reasons[26] and "at row 28" in reasons[27]
    assert "default row of 'C6' was rejected" in reasons[29] and "required" in reasons[23]
    assert "'S1' is already used at row 21" in reasons[43] and "required" in reasons[45]
    assert sorted(reasons) == [9, 23, 26, 27, 28, 29, 43, 45]
    negative = "qty {!r} is negative (backorders); the stock is read as 0 and the value kept in"
    warned = {
        5: f"row 5: {negative.format('-2')} the price's metadata as 'qty'",
        13: f"row 13: {negative.format('-4')} the price's metadata as 'qty'",
        47: "row 47: configurable_variations: 'NOPE' has no row in this file; that variant is"
        " left out",
    }
    # in the order of their rows; held, C1 waits for its last row (42) and comes with a later piece
    order = [5, 13, 47] if on_disk else [13, 47, 5]
    got = [w.split(": ", 1)[1] for w in first["warnings"] if str(path) in w]
    assert got == [warned[row] for row in order]
    assert again["events"] == 0


def test_a_streamed_first_import_takes_the_prints_that_the_next_run_skips_by(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    streamed: list[int],
    skipped: list[int],
) -> None:
    rows: Rows = []
    for p in range(6):
        rows += configurable(p)
    rows.append(rows.pop(4))  # C1-red at the end of the file
    path = write_csv(tmp_path / "magento.csv", HEADER, rows)
    first, again = streamed_and_whole(engine, monkeypatch, path, account, "magento")
    assert len(streamed) == 1 and first["products"]["created"] == 6
    assert again["events"] == 0 and skipped == [0, 6, 0, 6]
