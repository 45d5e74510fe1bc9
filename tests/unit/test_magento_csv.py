"""The Magento 2 product CSV connector on Magento's own sample export and on a small export with
a configurable product, a store-view row and a simple product (tests/fixtures)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from catalog_pipelines.connectors.detect import detect_format, load_batch
from catalog_pipelines.connectors.magento_csv import read_magento_csv
from catalog_pipelines.connectors.reading import InputError
from catalog_pipelines.normalized import ParsedBatch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REAL = FIXTURES / "real" / "magento2_catalog_product.csv"
SMALL = FIXTURES / "magento_configurable.csv"


def as_dict(pairs: list[dict[str, str]] | None) -> dict[str, str]:
    return {p["key"]: p["value"] for p in pairs or []}


def product(batch: ParsedBatch, external_id: str) -> dict[str, Any]:
    (row,) = [p for p in batch.products.to_dicts() if p["external_id"] == external_id]
    row["metadata"] = as_dict(row["metadata"])
    return row


def variants(batch: ParsedBatch, external_id: str) -> list[dict[str, Any]]:
    out = [v for v in batch.variants.to_dicts() if v["product_external_id"] == external_id]
    for v in out:
        v["metadata"], v["options"] = as_dict(v["metadata"]), as_dict(v["options"])
    return out


def write(tmp_path: Path, rows: list[dict[str, str]]) -> Path:
    """A Magento export with the given rows (columns: the union of their keys, in order)."""
    columns: dict[str, None] = dict.fromkeys(["sku", "store_view_code", "product_type"])
    for r in rows:
        columns.update(dict.fromkeys(r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "export.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


# -- Magento's sample export --------------------------------------------------------------


def test_real_export_counts_are_what_a_merchant_expects() -> None:
    """3 simple products (one price and stock each), 1 grouped product (no price: its items
    are bought at their own prices), a dynamic bundle (priced by its parts: no price of its
    own) and a fixed bundle (its own price, no stock of its own). Nothing rejected."""
    batch = read_magento_csv(REAL)
    batch.check_reconciles()
    assert (batch.rows_read, batch.rows_valid, batch.rejects, batch.warnings) == (6, 6, [], [])
    assert batch.products["external_id"].to_list() == [
        "24-WG085",
        "24-WG086",
        "24-WG087",
        "24-WG085_Group",
        "24-WG085-bundle-dynamic",
        "24-WG085-bundle-fixed",
    ]
    prices = {v["variant_key"]: v for v in batch.variants.to_dicts()}
    assert {k: v["unit_amount"] for k, v in prices.items()} == {
        "24-WG085": 1400,
        "24-WG086": 1700,
        "24-WG087": 2100,
        "24-WG085-bundle-fixed": 1400,
    }
    stocked = {k: v["inventory_quantity"] for k, v in prices.items() if v["sku"] is not None}
    assert stocked == {"24-WG085": 100, "24-WG086": 100, "24-WG087": 100}
    assert set(batch.variants["currency"].to_list()) == {"usd"}


def test_real_export_keeps_grouped_and_bundle_definitions_and_every_cell() -> None:
    batch = read_magento_csv(REAL)
    grouped = product(batch, "24-WG085_Group")["metadata"]
    assert grouped["associated_skus"] == "24-WG085=5.0000,24-WG086=5.0000"
    assert grouped["product_type"] == "grouped"
    dynamic = product(batch, "24-WG085-bundle-dynamic")["metadata"]
    assert dynamic["bundle_values"].startswith("name=Bundle Option One1,type=select")
    assert (dynamic["bundle_price_type"], dynamic["price"]) == ("dynamic", "14")
    assert variants(batch, "24-WG085-bundle-dynamic") == []
    fixed = product(batch, "24-WG085-bundle-fixed")["metadata"]
    assert fixed["bundle_price_type"] == "fixed" and "price" not in fixed
    # additional_attributes, expanded into one key each
    strap = product(batch, "24-WG085")
    assert strap["metadata"]["has_options"] == "1"
    assert strap["metadata"]["quantity_and_stock_status"] == "In Stock"
    assert "additional_attributes" not in strap["metadata"]
    assert strap["metadata"]["custom_options"].endswith("option_title=Platinum")
    assert (strap["name"], strap["active"], strap["shippable"]) == (
        "Sprite Yoga Strap 6 foot",
        True,
        True,
    )
    # Every non-blank cell of every row is somewhere: a catalog field or metadata.
    with REAL.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        kept = product(batch, row["sku"])
        own = variants(batch, row["sku"])
        values = set(kept["metadata"]) | {k for v in own for k in v["metadata"]}
        carried = {"sku", "name", "description", "product_online", "additional_attributes"}
        carried |= {"price", "qty"} if own else set()
        missing = {c for c, v in row.items() if v and c not in values | carried}
        assert missing == set(), row["sku"]


def test_the_real_export_is_detected_by_its_header() -> None:
    assert detect_format(REAL) == "magento"
    assert detect_format(SMALL) == "magento"
    batch = load_batch(REAL, currency="eur")  # the source's currency setting
    assert set(batch.variants["currency"].to_list()) == {"eur"}
    assert batch.variants["unit_amount"].to_list() == [1400, 1700, 2100, 1400]


# -- a configurable product, a store view and a simple product ------------------------------


def test_configurable_children_are_its_variants_never_products() -> None:
    batch = read_magento_csv(SMALL)
    assert (batch.rows_read, batch.rejects, batch.warnings) == (6, [], [])
    assert batch.products["external_id"].to_list() == ["MH01", "24-MB01"]
    assert batch.variants.height == 4  # 3 variants + the simple product's one price
    assert batch.variants.filter(batch.variants["sku"].is_not_null()).height == 4  # stock each
    hoodie = variants(batch, "MH01")
    assert [(v["sku"], v["options"], v["unit_amount"]) for v in hoodie] == [
        ("MH01-XS-Black", {"color": "Black", "size": "XS"}, 5200),
        ("MH01-S-Black", {"color": "Black", "size": "S"}, 5200),
        ("MH01-M-Gray", {"color": "Gray", "size": "M"}, 5400),
    ]
    assert [v["nickname"] for v in hoodie] == ["Black / XS", "Black / S", "Gray / M"]
    assert [v["inventory_quantity"] for v in hoodie] == [10, 5, 0]  # '10.0000' -> 10
    assert [v["active"] for v in hoodie] == [True, True, False]  # product_online 2: inactive
    # the child's own cells stay with its price
    assert hoodie[0]["metadata"]["name"] == "Chaz Kangeroo Hoodie-XS-Black"
    assert hoodie[0]["metadata"]["base_image"] == "/m/h/mh01-black_main.jpg"


def test_store_view_row_is_kept_and_never_overwrites_the_default() -> None:
    batch = read_magento_csv(SMALL)
    hoodie = product(batch, "MH01")
    assert hoodie["name"] == "Chaz Kangeroo Hoodie"
    assert hoodie["description"] == "<p>Ideal for cold-weather training.</p>"
    assert hoodie["metadata"]["url_key"] == "chaz-kangeroo-hoodie"
    translated = {k: v for k, v in hoodie["metadata"].items() if k.startswith("store_view.")}
    assert translated == {
        "store_view.de.name": "Chaz Känguru-Kapuzenpullover",
        "store_view.de.description": "<p>Ideal für das Training bei Kälte.</p>",
        "store_view.de.url_key": "chaz-kaenguru-kapuzenpullover",
    }  # attribute_set_code and product_type, equal to the default row's, are no translation


def test_configurable_product_fields() -> None:
    batch = read_magento_csv(SMALL)
    hoodie = product(batch, "MH01")
    assert hoodie["images"] == [
        "/m/h/mh01-gray_main.jpg",
        "/m/h/mh01-gray_alt1.jpg",
        "/m/h/mh01-gray_back.jpg",
    ]
    assert hoodie["shippable"] is True and hoodie["active"] is True
    meta = hoodie["metadata"]
    assert meta["material"] == "Cotton,Polyester"  # a value with a comma stays whole
    assert meta["eco_collection"] == "0"
    assert meta["configurable_variation_labels"] == "color=Color,size=Size"
    # its own price and qty are not what a customer pays or what is in stock: kept, not used
    assert (meta["price"], meta["qty"]) == ("52.00", "0.0000")
    assert "configurable_variations" not in meta  # carried by the variants


def test_simple_product_is_one_product_with_one_price() -> None:
    batch = read_magento_csv(SMALL)
    bag = product(batch, "24-MB01")
    assert bag["name"] == "Joust Duffle Bag" and bag["images"] == ["/m/b/mb01-blue-0.jpg"]
    assert bag["metadata"]["activity"] == "Gym,Hiking,Trail,Urban"
    assert bag["metadata"]["url_key"] == "joust-duffle-bag"
    (price,) = variants(batch, "24-MB01")
    assert (price["variant_key"], price["sku"], price["unit_amount"]) == (
        "24-MB01",
        "24-MB01",
        3400,
    )
    assert (price["inventory_quantity"], price["inventory_policy"]) == (100, "continue")
    assert price["metadata"] == {
        "special_price": "29.99",
        "special_price_from_date": "2024-11-25",
        "special_price_to_date": "2024-12-02",
    }


def test_reading_twice_gives_the_same_batch() -> None:
    first, second = read_magento_csv(SMALL), read_magento_csv(SMALL)
    assert first.products.equals(second.products) and first.variants.equals(second.variants)


# -- bad input ------------------------------------------------------------------------------


def test_bad_cells_reject_their_row_naming_the_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"sku": "A", "product_type": "simple", "price": "9.99", "product_online": "3"},
            {"sku": "B", "product_type": "simple", "price": "abc", "qty": "1"},
            {"sku": "C", "product_type": "simple", "price": "1", "qty": "2.5"},
            {"sku": "D", "product_type": "simple", "price": "1", "additional_attributes": "oops"},
            {"sku": "A", "product_type": "simple", "price": "1"},
            {"sku": "", "product_type": "simple", "price": "1"},
            {"sku": "E", "product_type": "", "price": "1"},
            {"sku": "F", "product_type": "simple", "price": "1"},
        ],
    )
    batch = read_magento_csv(path)
    batch.check_reconciles()
    reasons = {r.row_number: r.reasons for r in batch.rejects}
    assert reasons == {
        1: ["row 1: product_online: '3' is not 1 (enabled) or 2 (disabled)"],
        2: ["row 2: price: 'abc' is not a non-negative decimal amount"],
        3: ["row 3: qty: '2.5' is not a whole number of units"],
        4: ["row 4: additional_attributes: 'oops' is not code=value"],
        5: ["row 5: sku: 'A' is already used at row 1"],
        6: ["row 6: sku: required"],
        7: ["row 7: product_type: required"],
    }
    assert batch.products["external_id"].to_list() == ["F"]


def test_store_view_rows_without_their_default_row_are_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"sku": "A", "product_type": "simple", "name": "Mug", "price": "5"},
            {"sku": "A", "store_view_code": "fr", "name": "Tasse"},
            {"sku": "A", "store_view_code": "fr", "name": "Grande tasse"},
            {"sku": "Z", "store_view_code": "fr", "name": "Fantôme"},
        ],
    )
    batch = read_magento_csv(path)
    assert [r.reasons for r in batch.rejects] == [
        ["row 3: store_view_code: 'A' in 'fr' is already given at row 2"],
        [
            "row 4: store_view_code: 'fr' translates 'Z', which has no default row"
            " (blank store_view_code) in this file"
        ],
    ]
    mug = product(batch, "A")
    assert mug["name"] == "Mug" and mug["metadata"]["store_view.fr.name"] == "Tasse"


def test_a_childs_store_view_row_goes_to_its_variant(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"sku": "T-S", "product_type": "simple", "name": "Tee S", "price": "5"},
            {
                "sku": "T",
                "product_type": "configurable",
                "name": "Tee",
                "configurable_variations": "sku=T-S,size=S",
            },
            {"sku": "T-S", "store_view_code": "de", "name": "T-Shirt S"},
        ],
    )
    batch = read_magento_csv(path)
    assert batch.rejects == [] and batch.products["external_id"].to_list() == ["T"]
    (small,) = variants(batch, "T")
    assert small["metadata"]["store_view.de.name"] == "T-Shirt S"
    assert small["metadata"]["name"] == "Tee S"


def test_broken_configurable_links(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"sku": "T-S", "product_type": "simple", "price": "5", "qty": "-3"},
            {"sku": "T-M", "product_type": "simple", "price": "x"},
            {
                "sku": "T",
                "product_type": "configurable",
                "configurable_variations": "sku=T-S,size=S|sku=T-M,size=M|sku=T-XL,size=XL",
            },
            {"sku": "U-S", "product_type": "simple", "price": "5"},
            {
                "sku": "U",
                "product_type": "configurable",
                "product_online": "9",
                "configurable_variations": "sku=U-S,size=S",
            },
        ],
    )
    batch = read_magento_csv(path)
    batch.check_reconciles()
    assert batch.products["external_id"].to_list() == ["T"]
    # a bad child is rejected alone; a rejected configurable takes its children with it
    assert {r.row_number: r.reasons for r in batch.rejects} == {
        2: ["row 2: price: 'x' is not a non-negative decimal amount"],
        4: ["row 4: sku: a variant of configurable product 'U', which was rejected at row 5"],
        5: ["row 5: product_online: '9' is not 1 (enabled) or 2 (disabled)"],
    }
    (small,) = variants(batch, "T")
    assert (small["inventory_quantity"], small["metadata"]["qty"]) == (0, "-3")
    assert batch.warnings == [  # in the order of their rows
        f"{path}: row 1: qty '-3' is negative (backorders); the stock is read as 0 and the"
        " value kept in the price's metadata as 'qty'",
        f"{path}: row 3: configurable_variations: 'T-XL' has no row in this file; that variant"
        " is left out",
    ]


def test_not_a_magento_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("sku,name\nA,Mug\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a Magento product CSV"):
        read_magento_csv(path)
    path.write_text("product_type,name\nsimple,Mug\n", encoding="utf-8")
    with pytest.raises(InputError, match="no 'sku' column"):
        read_magento_csv(path)


def test_unreadable_variations_reject_the_configurable_and_its_children(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"sku": "V-S", "product_type": "simple", "price": "5"},
            {
                "sku": "V",
                "product_type": "configurable",
                "configurable_variations": "sku=V-S,size=S|sku=V,size=M",
            },
            {"sku": "W", "product_type": "configurable", "configurable_variations": "size=S"},
        ],
    )
    batch = read_magento_csv(path)
    assert batch.products.height == 0 and batch.variants.height == 0
    assert {r.row_number: r.reasons for r in batch.rejects} == {
        1: ["row 1: sku: a variant of configurable product 'V', which was rejected at row 2"],
        2: ["row 2: configurable_variations: names the product itself"],
        3: ["row 3: configurable_variations: 'size=S' names no sku="],
    }
