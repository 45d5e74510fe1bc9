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
from tests.support.streamed import streamed_and_whole

HEADER = ["sku", "store_view_code", "product_type", "name", "product_online", "price", "qty",
          "configurable_variations", "color"]  # fmt: skip
Rows = list[list[str]]


def _configurable(p: int, *, online: str = "1") -> Rows:
    """Two simple children, then the configurable that names them, and its German name."""
    sku = f"C{p}"
    rows = [
        [f"{sku}-{c}", "", "simple", f"Tee {p} {c}", "1", f"{10 + p}.00", "3", "", c]
        for c in ("red", "blue")
    ]
    variations = "|".join(f"sku={sku}-{c},color={c}" for c in ("red", "blue"))
    rows.append([sku, "", "configurable", f"Tee {p}", online, "", "", variations, ""])
    rows.append([sku, "de", "configurable", f"T-Shirt {p}", "", "", "", "", ""])
    return rows


def _export(tmp: Path) -> Path:
    rows: Rows = []
    for p in range(10):
        rows += _configurable(p, online="9" if p == 6 else "1")  # C6 rejected, its children too
    rows[9][5] = "x"  # C2-blue's price: that child is rejected alone
    rows[13][6] = "-4"  # C3-blue's stock: read as 0, with a warning
    rows.append(rows.pop(4))  # C1-red at the end of the file: C1 waits for it
    rows.insert(20, ["S1", "", "simple", "Mug", "1", "8.00", "5", "", ""])
    rows.insert(22, ["B1", "", "", "Thing", "1", "5.00", "1", "", ""])  # no type
    rows.append(["S1", "", "simple", "Mug again", "1", "9.00", "2", "", ""])  # S1 twice
    rows.append(["S1", "fr", "simple", "Tasse", "", "", "", "", ""])
    rows.append(["", "", "simple", "No SKU", "1", "4.00", "1", "", ""])
    rows.append(["G1", "", "grouped", "Set", "1", "", "", "", ""])
    rows.append(["N1", "", "configurable", "Nothing", "1", "", "", "sku=NOPE,color=red", ""])
    return write_csv(tmp / "magento.csv", HEADER, rows)


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
    path = _export(tmp_path)
    if on_disk:  # every row on disk, in buckets of about five rows of whole products
        monkeypatch.setattr(row_groups, "MAX_HELD", 0)
        monkeypatch.setattr(row_groups, "BUCKET_ROWS", 5)
    with caplog.at_level(logging.INFO, logger="catalog_pipelines"):
        first, again = streamed_and_whole(engine, monkeypatch, path, account, "magento")
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
    assert [w.split(": ", 1)[1] for w in first["warnings"] if str(path) in w] == [
        "row 13: qty '-4' is negative (backorders); the stock is read as 0 and the value kept"
        " in the price's metadata as 'qty'",
        "row 47: configurable_variations: 'NOPE' has no row in this file; that variant is left out",
    ]
    assert again["events"] == 0
