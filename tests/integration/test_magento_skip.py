"""A Magento re-import skips the products whose rows did not change
(connectors/magento_csv/keys.py), and skipping never changes its outcome.

Each scenario runs twice, in two accounts: with skipping off and on. The reports and the
catalogs must be identical (ids aside), and the run with skipping on must really have skipped
where it could. A product is a configurable's row, its children's rows (which come before it,
as Magento writes them) and their store-view rows; or a simple product's rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from tests.support.magento_export import HEADER, Rows, configurable
from tests.support.skip_both import Both, Step, import_step

PRODUCTS = 6  # four configurables of two children each, then two simple products


def _rows(change: Callable[[Rows], object] | None = None) -> Rows:
    rows = []
    for p in range(4):
        rows += configurable(p)
    for p in range(2):
        rows.append([f"S{p}", "", "simple", f"Mug {p}", "1", "8.00", "5", "", ""])
    if change is not None:
        change(rows)
    return rows


def _import(rows: Rows) -> Step:
    return import_step("magento", "mage", HEADER, rows)


def test_a_re_import_skips_the_products_whose_rows_did_not_change(
    both: Both, skipped: list[int]
) -> None:
    def child_repriced(rows: Rows) -> None:
        rows[4][5] = "13.50"  # C1-red: its configurable's row did not change

    def translated(rows: Rows) -> None:
        rows[11][3] = "T-Shirt 2 (neu)"  # C2's German name

    def child_gone(rows: Rows) -> None:
        del rows[12]  # C3-red, and C3 names it no more
        rows[13][7] = "sku=C3-blue,color=blue"

    def apart(rows: Rows) -> None:
        rows.append(rows.pop(3))  # C0's German name after everything: its rows in order

    base = _rows()
    steps = [_import(base), _import(base), _import(_rows(child_repriced)),
             _import(_rows(translated)), _import(_rows(child_gone)), _import(base),
             _import(_rows(apart))]  # fmt: skip
    out = both(steps)
    assert out[0]["products"]["created"] == PRODUCTS and out[1]["events"] == 0
    assert out[2]["prices"]["updated"] + out[2]["prices"]["created"] >= 1
    assert out[3]["products"]["updated"] == 2  # C2 translated, C1's price back
    # C3-red's price archived, then the same price made active again
    assert out[4]["prices"]["archived"] == 1 and out[5]["prices"]["updated"] == 1
    assert out[6]["events"] == 0
    # nothing to skip at first, then all, all but C1 (repriced child), all but C1 (back) and
    # C2 (translated), all but C2 and C3 (a child gone), all but C3, all (C0's rows apart, in the same order)
    assert skipped[-7:] == [0, 6, 5, 4, 4, 5, 6]


def test_a_simple_product_that_becomes_a_child(both: Both, skipped: list[int]) -> None:
    """S0 is a product of its own, then a configurable's child: both change, in one run."""

    def adopted(rows: Rows) -> None:
        rows.append(["K", "", "configurable", "Kit", "1", "", "", "sku=S0,color=red", ""])

    base = _rows()
    out = both([_import(base), _import(_rows(adopted)), _import(_rows(adopted))])
    assert out[1]["products"]["archived"] == 1 and out[1]["products"]["created"] == 1
    assert out[2]["events"] == 0
    assert skipped[-3:] == [0, 5, 6]


def test_a_file_whose_links_the_builder_would_warn_about_is_read_without_fingerprints(
    both: Both, skipped: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="catalog_pipelines")

    def missing(rows: Rows) -> None:
        rows[6][7] += "|sku=NOPE,color=green"  # C1 names a child without a row

    def twice(rows: Rows) -> None:
        rows[10][7] += "|sku=C1-red,color=red"  # C2 names C1's child too

    def unreadable(rows: Rows) -> None:
        rows[14][7] = "color=red"  # C3's variations name no sku=

    def separator(rows: Rows) -> None:
        rows[7][1] = "de\x1c"  # C1's German row: 'de' to Python, not to Polars

    changes = (missing, twice, separator, unreadable)
    steps = [_import(_rows(change)) for change in changes]
    out = both(steps + [steps[-1]])
    assert all(r["rejects"] == [] for r in out[:2]) and out[4]["events"] == 0
    assert "is named by two configurables" in caplog.text and "separator" in caplog.text
    assert skipped[-5:] == [-1, -1, -1, -1, -1]


def test_warned_and_rejected_products_are_read_every_time(both: Both, skipped: list[int]) -> None:
    def flawed(rows: Rows) -> None:
        rows[1][6] = "-4"  # C0-blue's stock: a warning for C0
        rows[8][5] = "x"  # C2-red's price: a reject in C2

    base = _rows(flawed)
    out = both([_import(base), _import(base)])
    assert len([w for w in out[1]["warnings"] if "negative" in w]) == 1
    assert [row for row, _ in out[1]["rejects"]] == [9]
    assert out[1]["events"] == 0
    assert skipped[-2:] == [0, 4]
