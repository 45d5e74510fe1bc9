"""A first import of a large Shopify export is streamed: built in pieces of whole products,
each validated and put on disk, then planned and written a part at a time (first_import.py).

Pieces of four variants and parts of five products make a small export stream. The same
export goes into two empty accounts, streamed and with streaming turned off, then again; the
reports and catalogs must be the same (ids aside).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.exports import SHOPIFY_HEADER as HEADER
from tests.support.exports import write_csv
from tests.support.streamed import streamed_and_whole

LONG = "x" * 501  # over Stripe's 500 characters for a metadata value: a warning


def _export(tmp: Path) -> Path:
    rows = []
    for p in range(15):
        vendor = LONG if p in (2, 11) else "Acme"
        rows.append([f"p{p}", f"Product {p}", vendor, "Size", "S", f"P{p}-S", "10", "3", "100"])
        rows.append([f"p{p}", "", "", "", "M", f"P{p}-M", "x" if p == 6 else "12", "2", "110"])
        rows.append([f"p{p}", "", "", "", "L", f"P{p}-L", "13", "1", "120"])
    rows[20][1] = "bad\x00title"  # a NUL cell: that row is rejected
    rows.append(["", "", "", "", "", "", "", "", ""])  # no handle
    rows.append(["p3", "", "", "", "XL", "P3-XL", "14", "0", "130"])  # p3's rows apart
    rows.append(["p20", "Other", "Acme", "Size", "S", "P0-S", "9", "1", "100"])  # p0's SKU
    return write_csv(tmp / "shop.csv", HEADER, rows)


def test_a_streamed_shopify_first_import_writes_what_the_whole_read_writes(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    streamed: list[int],
) -> None:
    first, again = streamed_and_whole(engine, monkeypatch, _export(tmp_path), account, "shopify")
    # the first import streamed, in pieces of whole products; the second found products
    assert len(streamed) == 1 and streamed[0] > 5
    assert list((tmp_path / "spill").iterdir()) == []
    assert first["products"]["created"] == 15
    assert [row for row, _ in first["rejects"]] == [20, 21, 46, 48]
    assert [w for w in first["warnings"] if "Stripe" in w] == [
        f"product {key!r} (row {row}): values longer than 500 characters under: 'Vendor';"
        " kept in full here, but Stripe would refuse it"
        for key, row in (("p2", 7), ("p11", 34))
    ]
    assert again["events"] == 0
