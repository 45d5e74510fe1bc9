"""WooCommerce product CSV: what a merchant who exported their store would check."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from catalog_pipelines.connectors.woocommerce_csv import read_woocommerce_csv
from catalog_pipelines.normalized import ParsedBatch
from tests.support.exports import as_dict, write_csv

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
SAMPLE = REAL / "woocommerce_sample_products.csv"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _primary(type_cell: str) -> str:
    return type_cell.split(",")[0].strip()


@pytest.fixture(scope="module")
def sample() -> ParsedBatch:
    return read_woocommerce_csv(SAMPLE)


def test_sample_counts_match_the_types_in_the_file(sample: ParsedBatch) -> None:
    # Independent count with the csv module: every non-variation row is a product; simple and
    # external products get one price each, and each variation is a price of its parent.
    rows = _rows(SAMPLE)
    types = [_primary(r["Type"]) for r in rows]
    products = sum(t != "variation" for t in types)
    variants = sum(t in ("simple", "external", "variation") for t in types)
    assert (len(rows), products, variants) == (25, 18, 22)
    assert SAMPLE.read_bytes().startswith(b"\xef\xbb\xbf")  # the BOM is really there
    assert sample.rows_read == len(rows)
    assert sample.products.height == products
    assert sample.variants.height == variants
    assert sample.rejects == []
    sample.check_reconciles()
    assert "ID" in sample.columns  # not "\ufeffID"


def test_variations_are_the_variable_products_prices(sample: ParsedBatch) -> None:
    hoodie = sample.variants.filter(product_external_id="woo-hoodie")
    assert hoodie["variant_key"].to_list() == [
        "woo-hoodie-red",
        "woo-hoodie-green",
        "woo-hoodie-blue",
        "woo-hoodie-blue-logo",
    ]
    red = hoodie.row(0, named=True)
    assert as_dict(red["options"]) == {"Color": "Red", "Logo": "No"}
    assert red["nickname"] == "Hoodie - Red, No"
    assert red["unit_amount"] == 4200  # the sale price
    meta = as_dict(red["metadata"])
    assert (meta["Regular price"], meta["Sale price"]) == ("45", "42")
    assert red["active"] is True
    # "Size" with no value on a V-neck variation means "any size": not an option, kept in metadata.
    vneck = sample.variants.filter(variant_key="woo-vneck-tee-blue").row(0, named=True)
    assert as_dict(vneck["options"]) == {"Color": "Blue"}
    assert as_dict(vneck["metadata"])["Attribute 2 name"] == "Size"
    assert vneck["unit_amount"] == 1500
    parent = sample.products.filter(external_id="woo-vneck-tee").row(0, named=True)
    assert as_dict(parent["metadata"])["Attribute 2 value(s)"] == "Large, Medium, Small"
    assert len(parent["images"]) == 3
    assert parent["images"][1].endswith("/vnech-tee-green-1.jpg")


def test_simple_grouped_and_external_products(sample: ParsedBatch) -> None:
    products = {r["external_id"]: r for r in sample.products.iter_rows(named=True)}
    variants = {r["variant_key"]: r for r in sample.variants.iter_rows(named=True)}
    beanie = variants["woo-beanie"]
    assert beanie["product_external_id"] == "woo-beanie" and beanie["sku"] == "woo-beanie"
    assert beanie["unit_amount"] == 1800 and beanie["inventory_policy"] == "deny"
    assert as_dict(beanie["metadata"])["Regular price"] == "20"
    assert variants["woo-sunglasses"]["unit_amount"] == 9000  # no sale: the regular price
    assert products["woo-album"]["shippable"] is False  # "simple, downloadable, virtual"
    assert products["woo-belt"]["shippable"] is True
    grouped = products["logo-collection"]
    assert "logo-collection" not in variants  # grouped products have no price
    assert as_dict(grouped["metadata"])["Grouped products"] == (
        "woo-hoodie-with-logo, woo-tshirt, woo-beanie"
    )
    pennant = products["wp-pennant"]
    assert pennant["url"] == "https://mercantile.wordpress.org/product/wordpress-pennant/"
    assert as_dict(pennant["metadata"])["Button text"] == "Buy on the WordPress swag store!"
    assert variants["wp-pennant"]["unit_amount"] == 1105
    assert variants["wp-pennant"]["sku"] is None  # sold elsewhere: no inventory item
    assert as_dict(products["woo-belt"]["metadata"])["Meta: _wpcom_is_markdown"] == "1"
    assert all(p["active"] for p in products.values())


HEADER = [
    "ID",
    "Type",
    "SKU",
    "Name",
    "Published",
    "In stock?",
    "Stock",
    "Backorders allowed?",
    "Sale price",
    "Regular price",
    "Images",
    "Parent",
    "Attribute 1 name",
    "Attribute 1 value(s)",
    "Meta: _color_hex",
]


def _write(tmp_path: Path, rows: list[list[str]]) -> Path:
    return write_csv(tmp_path / "wc.csv", HEADER, rows, encoding="utf-8-sig")


def test_parent_by_id_stock_backorders_and_published(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            [
                "10",
                "variable",
                "",
                "Mug",
                "0",
                "",
                "",
                "",
                "",
                "",
                "a.jpg, b.jpg, a.jpg",
                "",
                "Size",
                "S, M",
                "#fff",
            ],
            [
                "11",
                "variation",
                "MUG-S",
                "Mug - S",
                "1",
                "1",
                "7",
                "notify",
                "",
                "950",
                "",
                "id:10",
                "Size",
                "S",
                "",
            ],
            [
                "12",
                "variation",
                "",
                "Mug - M",
                "-1",
                "0",
                "0",
                "0",
                "",
                "950",
                "",
                "id:10",
                "Size",
                "M",
                "",
            ],
            ["13", "simple", "", "Plate", "1", "1", "3", "1", "", "5", "", "", "", "", ""],
        ],
    )
    batch = read_woocommerce_csv(path, currency="jpy")
    assert batch.rejects == []
    batch.check_reconciles()
    products = {r["external_id"]: r for r in batch.products.iter_rows(named=True)}
    assert set(products) == {"id:10", "id:13"}  # no SKU: keyed by id:<ID>
    assert products["id:10"]["active"] is False  # Published 0 (draft)
    assert products["id:10"]["images"] == ["a.jpg", "b.jpg"]
    assert as_dict(products["id:10"]["metadata"])["Meta: _color_hex"] == "#fff"
    variants = {r["variant_key"]: r for r in batch.variants.iter_rows(named=True)}
    s = variants["MUG-S"]
    assert s["product_external_id"] == "id:10"
    assert (s["inventory_quantity"], s["inventory_policy"]) == (7, "continue")
    assert s["unit_amount"] == 950  # yen have no minor unit
    m = variants["id:12"]
    assert m["sku"] is None and m["active"] is False  # private
    assert (m["inventory_quantity"], m["inventory_policy"]) == (0, "deny")
    assert variants["id:13"]["unit_amount"] == 5 and variants["id:13"]["currency"] == "jpy"


def test_bad_rows_are_rejected_with_reasons_and_the_rest_survives(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            ["1", "variable", "TEE", "Tee", "1", "", "", "", "", "", "", "", "", "", ""],
            [
                "2",
                "variation",
                "TEE-S",
                "Tee S",
                "1",
                "1",
                "2.5",
                "",
                "",
                "10",
                "",
                "TEE",
                "Size",
                "S",
                "",
            ],
            [
                "3",
                "variation",
                "TEE-M",
                "Tee M",
                "1",
                "1",
                "-1",
                "maybe",
                "x",
                "10",
                "",
                "TEE",
                "Size",
                "M",
                "",
            ],
            [
                "4",
                "variation",
                "TEE-L",
                "Tee L",
                "2",
                "1",
                "1",
                "",
                "",
                "10",
                "",
                "NOPE",
                "Size",
                "L",
                "",
            ],
            ["5", "bundle", "B", "Bundle", "1", "", "", "", "", "", "", "", "", "", ""],
            ["6", "variation", "B-1", "Bundle 1", "1", "", "", "", "", "1", "", "B", "", "", ""],
            ["7", "simple", "TEE", "Dup", "1", "", "", "", "", "1", "", "", "", "", ""],
            [
                "8",
                "variation",
                "TEE-XL",
                "Tee XL",
                "1",
                "",
                "4",
                "0",
                "",
                "11",
                "",
                "TEE",
                "Size",
                "XL",
                "",
            ],
        ],
    )
    batch = read_woocommerce_csv(path)
    batch.check_reconciles()
    assert (batch.rows_read, batch.rows_valid, len(batch.rejects)) == (8, 2, 6)
    reasons = {r.row_number: " | ".join(r.reasons) for r in batch.rejects}
    assert set(reasons) == {2, 3, 4, 5, 6, 7}
    assert "row 2" in reasons[2] and "Stock" in reasons[2] and "'2.5'" in reasons[2]
    assert "negative" in reasons[3] and "Backorders allowed?" in reasons[3]
    assert "Sale price" in reasons[3]
    assert "Published" in reasons[4] and "'NOPE'" in reasons[4]
    assert "Type" in reasons[5] and "'bundle'" in reasons[5]
    assert "rejected at row 5" in reasons[6]
    assert "already used at row 1" in reasons[7]
    assert batch.products["external_id"].to_list() == ["TEE"]
    assert batch.variants["variant_key"].to_list() == ["TEE-XL"]
    assert batch.rejects[0].raw["Stock"] == "2.5"
