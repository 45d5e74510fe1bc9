"""A WooCommerce re-import skips the products whose rows did not change
(connectors/woocommerce_csv/keys.py), and skipping never changes its outcome.

Each scenario runs twice, in two accounts: with skipping off and on. The reports and the
catalogs must be identical (ids aside), and the run with skipping on must really have skipped
where it could. A product is its row and the rows of its variations, which name it in `Parent`
by its SKU (as WooCommerce writes them) or by `id:<ID>`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.importer import ImportOptions, import_path
from tests.support.parent_csv import report_view
from tests.support.skip_both import Both, Step, import_step

HEADER = ["ID", "Type", "SKU", "Name", "Parent", "Regular price", "Stock", "Attribute 1 name",
          "Attribute 1 value(s)"]  # fmt: skip
PRODUCTS = 6  # three variable products of two variations each, then three simple ones

Rows = list[list[str]]


def _rows(change: Callable[[Rows], object] | None = None) -> Rows:
    rows = []
    for p in range(PRODUCTS // 2):
        rows.append([f"{10 + p}", "variable", f"V{p}", f"Shirt {p}", "", "", "", "Size", "S, M"])
        for size in ("S", "M"):
            rows.append(
                [f"{20 + 2 * p + (size == 'M')}", "variation", f"V{p}-{size}", f"Shirt {p} {size}",
                 f"V{p}", "12.00", "3", "Size", size]
            )  # fmt: skip
    for p in range(PRODUCTS // 2):
        rows.append([f"{40 + p}", "simple", f"S{p}", f"Mug {p}", "", "8.00", "5", "", ""])
    if change is not None:
        change(rows)
    return rows


def _import(rows: Rows) -> Step:
    return import_step("woocommerce", "woo", HEADER, rows)


def test_a_re_import_skips_the_products_whose_rows_did_not_change(
    both: Both, skipped: list[int]
) -> None:
    def repriced(rows: Rows) -> None:
        rows[4][5] = "13.50"  # V1's first variation

    def shorter(rows: Rows) -> None:
        del rows[-1]  # S2 gone

    def apart(rows: Rows) -> None:
        rows.append(rows.pop(2))  # V0's second variation moved to the end, after S2

    base = _rows()
    steps = [_import(base), _import(base), _import(_rows(repriced)), _import(_rows(shorter)),
             _import(base), _import(_rows(apart))]  # fmt: skip
    out = both(steps)
    assert out[0]["products"]["created"] == PRODUCTS and out[1]["events"] == 0
    assert out[2]["prices"]["updated"] + out[2]["prices"]["created"] >= 1
    assert out[3]["products"]["archived"] == 1 and out[4]["products"]["updated"] == 1
    assert out[5]["events"] == 0
    # nothing to skip at first, then all, all but V1 (repriced), the five left but V1 (its
    # price back), all but S2 (back), all (V0's rows apart, in the same order)
    assert skipped[-6:] == [0, 6, 5, 4, 5, 6]


SAMPLE = (
    Path(__file__).parents[2] / "catalog_pipelines" / "samples" / "woocommerce_sample_products.csv"
)


def _sample(edit: Callable[[str], str] = lambda text: text) -> Step:
    def step(engine: sa.Engine, account: str, tmp: Path) -> Any:
        path = tmp / "wc-product-export.csv"
        path.write_text(edit(SAMPLE.read_text(encoding="utf-8-sig")), encoding="utf-8-sig")
        options = ImportOptions(source="woo", account_id=account)
        return report_view(import_path(engine, path, options, format="woocommerce"))

    return step


def test_woocommerces_own_sample_export_byte_order_mark_and_all(
    both: Both, skipped: list[int]
) -> None:
    """The export as WooCommerce writes it: a byte order mark, and variable products whose
    variations name them by SKU."""
    out = both(
        [_sample(), _sample(), _sample(lambda text: text.replace("V-Neck T-Shirt", "V-Neck Tee"))]
    )
    made = out[0]["products"]["created"]
    assert made > 10 and out[1]["events"] == 0 and out[2]["products"]["updated"] == 1
    assert skipped[-3:] == [0, made, made - 1]


def test_variations_naming_their_parent_by_id(both: Both, skipped: list[int]) -> None:
    """By `id:<ID>`, a parent without a SKU is found as the builder finds it; one with a SKU
    makes the file read without fingerprints, and the outcome is the same."""

    def by_id_without_sku(rows: Rows) -> None:
        rows[0][2] = ""  # V0 keyed id:10
        rows[1][4] = rows[2][4] = "id:10"

    def by_id_with_sku(rows: Rows) -> None:
        rows[4][4] = rows[5][4] = "id:11"  # V1 keeps its SKU

    def repriced(rows: Rows) -> None:
        by_id_with_sku(rows)
        rows[4][5] = "13.50"  # V1's variation changed, its parent row did not

    plain = _rows(by_id_without_sku)
    aliased = _rows(by_id_with_sku)
    out = both(
        [
            _import(plain),
            _import(plain),
            _import(aliased),
            _import(aliased),
            _import(_rows(repriced)),
        ]
    )
    assert out[0]["products"]["created"] == PRODUCTS and out[1]["events"] == 0
    assert out[3]["events"] == 0 and out[4]["rejects"] == []
    assert skipped[-5:] == [0, 6, -1, -1, -1]


def test_rejected_rows_and_a_sku_taken_from_a_skipped_product(
    both: Both, skipped: list[int]
) -> None:
    """A row rejected for its Type belongs to no product (it is keyed by its own SKU), and it
    is read and rejected every time; a variation that takes the SKU of a skipped simple
    product sends the import down the full path, where it is refused."""

    def broken(rows: Rows) -> None:
        rows[1][1] = "variant"  # not a type: V0's first variation rejected, every run

    def taken(rows: Rows) -> None:
        broken(rows)
        rows.insert(6, ["29", "variation", "S1", "Shirt 1 L", "V1", "12.00", "1", "Size", "L"])

    base = _rows(broken)
    out = both([_import(base), _import(base), _import(_rows(taken))])
    assert [row for row, _ in out[1]["rejects"]] == [2]
    assert out[1]["events"] == 0
    assert out[2]["rejects"][-1][1][0].endswith("'S1' is already used at row 12")
    assert skipped[-3:] == [0, 6, 0]
