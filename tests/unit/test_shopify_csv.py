"""Shopify product CSV: what a merchant who exported their shop would check after an import."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
import pytest

from catalog_pipelines.connectors.shopify_csv import read_shopify_csv, read_shopify_pieces
from catalog_pipelines.normalized import InputError, ParsedBatch
from tests.support.export_pieces import assert_same_batch, read_in_pieces, read_whole
from tests.support.exports import as_dict, write_csv

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
TEMPLATE = REAL / "shopify_product_template.csv"

VARIANT_FIELDS = ("Variant SKU", "Variant Price", "Option1 Value", "Variant Inventory Qty")


def _expected_counts(path: Path) -> tuple[int, int, int, int]:
    """Count independently with the csv module: data rows; distinct Handles (products); rows
    with any variant field set (variants); rows with only an Image Src (image-only rows)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    handles = {r["Handle"] for r in rows}
    variants = [r for r in rows if any(r[c].strip() for c in VARIANT_FIELDS)]
    image_only = [
        r for r in rows if not any(r[c].strip() for c in VARIANT_FIELDS) and r["Image Src"].strip()
    ]
    return len(rows), len(handles), len(variants), len(image_only)


@pytest.fixture(scope="module")
def template() -> ParsedBatch:
    return read_shopify_csv(TEMPLATE)


def test_template_counts_match_what_the_file_holds(template: ParsedBatch) -> None:
    rows, products, variants, image_only = _expected_counts(TEMPLATE)
    assert (rows, products, variants, image_only) == (17, 3, 16, 1)  # as the README describes
    assert template.rows_read == rows
    assert template.products.height == products
    assert template.variants.height == variants
    assert template.rejects == []
    assert template.rows_valid == rows
    template.check_reconciles()
    assert template.variants["variant_key"].n_unique() == variants


def test_products_keyed_by_handle_with_status_deciding_active(template: ParsedBatch) -> None:
    products = {r["external_id"]: r for r in template.products.iter_rows(named=True)}
    assert set(products) == {"example-shirt", "example-pants", "example-hat"}
    assert products["example-shirt"]["name"] == "Example T-Shirt"
    assert products["example-shirt"]["description"].startswith("<p>This t-shirt")
    assert products["example-shirt"]["active"] is True  # Status active
    assert products["example-pants"]["active"] is False  # draft
    assert products["example-hat"]["active"] is False  # archived
    # draft vs archived stays visible in metadata
    assert as_dict(products["example-pants"]["metadata"])["Status"] == "draft"
    assert as_dict(products["example-hat"]["metadata"])["Status"] == "archived"
    assert products["example-shirt"]["shippable"] is True


def test_variants_carry_price_inventory_and_options(template: ParsedBatch) -> None:
    variants = {r["variant_key"]: r for r in template.variants.iter_rows(named=True)}
    shirt = variants["SRT_COT_122"]
    assert shirt["product_external_id"] == "example-shirt"
    assert shirt["sku"] == "SRT_COT_122"
    assert as_dict(shirt["options"]) == {"Color": "Green", "Size": "M"}
    assert shirt["unit_amount"] == 2500 and shirt["currency"] == "usd"
    assert shirt["inventory_quantity"] == 0 and shirt["inventory_policy"] == "deny"
    jeans = variants["PNT_DEN_405"]
    assert as_dict(jeans["options"]) == {"Size": "40"}
    assert jeans["inventory_quantity"] == 10
    assert variants["HAT_GRY_275"]["unit_amount"] == 1799
    colors = [
        as_dict(r["options"])["Color"]
        for r in template.variants.iter_rows(named=True)
        if r["product_external_id"] == "example-shirt"
    ]
    assert colors == ["Green"] * 3 + ["Blue"] * 3 + ["Gray"] * 3 + ["Purple"] * 3


def test_nothing_is_dropped_and_barcodes_stay_verbatim(template: ParsedBatch) -> None:
    variants = {r["variant_key"]: r for r in template.variants.iter_rows(named=True)}
    first = as_dict(variants["SRT_COT_111"]["metadata"])
    assert first["Variant Barcode"] == "3.65275E+11"
    assert first["Variant Grams"] == "145"
    assert (
        first["Variant Image"] == "https://burst.shopifycdn.com/photos/green-t-shirt.jpg?width=1500"
    )
    jeans = as_dict(variants["PNT_DEN_305"]["metadata"])
    assert jeans["Variant Compare At Price"] == "64.95"
    assert jeans["Cost per item"] == "50"
    assert jeans["Variant Grams"] == "283.4952313"
    shirt = as_dict(template.products.filter(external_id="example-shirt")["metadata"][0].to_list())
    for key in (
        "Vendor",
        "Product Category",
        "Type",
        "Tags",
        "SEO Title",
        "Google Shopping / MPN",
        "Google Shopping / Gender",
        "Included / United States",
    ):
        assert key in shirt
    assert shirt["Google Shopping / MPN"] == "3.65275E+11"
    assert shirt["Tags"] == "Made to Order, Shirt Tag"
    # Every header is either mapped or kept.
    header = set(next(csv.reader(TEMPLATE.open(encoding="utf-8", newline=""))))
    mapped = {"Handle", "Title", "Body (HTML)", "Image Src", "Image Position", "Image Alt Text"}
    mapped |= {f"Option{n} {w}" for n in (1, 2, 3) for w in ("Name", "Value")}
    mapped |= {"Variant SKU", "Variant Price", "Variant Inventory Qty", "Variant Inventory Policy"}
    assert header - mapped == set(template.unmapped_columns)


def test_images_ordered_deduplicated_and_image_only_row_is_not_a_variant(
    template: ParsedBatch,
) -> None:
    pants = template.products.filter(external_id="example-pants").row(0, named=True)
    assert pants["images"] == [
        "https://burst.shopifycdn.com/photos/urban-vintage-denimn-on-hangers.jpg?width=1500",
        "https://burst.shopifycdn.com/photos/fashion-model-walks-down-city-street.jpg?width=1500",
        "https://burst.shopifycdn.com/photos/woman-puts-hand-in-pocket.jpg?width=1500",
        "https://burst.shopifycdn.com/photos/female-fashion-model-poses-in-city-street.jpg?width=1500",
    ]
    assert 16 not in template.variants["row_number"].to_list()  # the image-only row
    alts = json.loads(as_dict(pants["metadata"])["Image Alt Text"])
    assert alts[pants["images"][3]] == "Large tapered stone wash jeans"
    shirt = template.products.filter(external_id="example-shirt").row(0, named=True)
    assert len(shirt["images"]) == 6
    assert shirt["images"][0] == "https://burst.shopifycdn.com/photos/tshirts.jpg?width=1500"


EDGE_HEADER = [
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Published",
    "Option1 Name",
    "Option1 Value",
    "Variant SKU",
    "Variant Price",
    "Variant Inventory Qty",
    "Variant Inventory Policy",
    "Variant Requires Shipping",
    "Variant Tax Code",
    "Image Src",
    "Image Position",
    "Fabric (product.metafields.custom.fabric)",
]


def _write(tmp_path: Path, rows: list[list[str]], header: list[str] = EDGE_HEADER) -> Path:
    return write_csv(tmp_path / "products.csv", header, rows)


def test_no_status_column_uses_published_and_blank_sku_gets_a_stable_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            # handle, title, body, vendor, published, opt name, opt value, sku, price, qty,
            # policy, ships, tax, image, position, fabric
            [
                "scarf",
                "Scarf",
                "",
                "Acme",
                "TRUE",
                "Color",
                "Red",
                "",
                "12.50",
                "3",
                "continue",
                "FALSE",
                "txcd_30011000",
                "https://x.test/b.jpg",
                "2",
                "Wool",
            ],
            [
                "scarf",
                "",
                "",
                "",
                "",
                "",
                "Blue",
                "",
                "12.50",
                "0",
                "deny",
                "FALSE",
                "",
                "https://x.test/a.jpg",
                "1",
                "",
            ],
            [
                "scarf",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "https://x.test/a.jpg",
                "3",
                "",
            ],
            [
                "hidden",
                "Hidden",
                "",
                "",
                "FALSE",
                "Title",
                "Default Title",
                "H-1",
                "1",
                "1",
                "deny",
                "TRUE",
                "",
                "",
                "",
                "",
            ],
        ],
    )
    batch = read_shopify_csv(path, currency="EUR")
    assert batch.rejects == [] and batch.rows_read == 4
    batch.check_reconciles()
    scarf = batch.products.filter(external_id="scarf").row(0, named=True)
    assert scarf["active"] is True  # no Status column: Published TRUE
    assert scarf["description"] is None  # blank first-row cell: not given, not ""
    assert scarf["images"] == ["https://x.test/a.jpg", "https://x.test/b.jpg"]
    assert scarf["shippable"] is False
    assert scarf["tax_code"] == "txcd_30011000"
    assert as_dict(scarf["metadata"])["Fabric (product.metafields.custom.fabric)"] == "Wool"
    assert "Fabric (product.metafields.custom.fabric)" in batch.unmapped_columns
    assert batch.products.filter(external_id="hidden")["active"].to_list() == [False]
    keys = batch.variants.filter(product_external_id="scarf")
    assert keys["variant_key"].to_list() == ["scarf/Red", "scarf/Blue"]
    assert keys["sku"].to_list() == [None, None]
    assert keys["currency"].to_list() == ["eur", "eur"]
    assert keys["unit_amount"].to_list() == [1250, 1250]
    assert keys["inventory_policy"].to_list() == ["continue", "deny"]


def test_bad_cells_become_rejects_naming_row_and_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            [
                "mug",
                "Mug",
                "",
                "",
                "TRUE",
                "Size",
                "S",
                "MUG-S",
                "abc",
                "1",
                "deny",
                "",
                "",
                "",
                "",
                "",
            ],
            ["mug", "", "", "", "", "", "M", "MUG-M", "9.99", "1.5", "deny", "", "", "", "", ""],
            [
                "mug",
                "",
                "",
                "",
                "",
                "",
                "L",
                "MUG-L",
                "9.99",
                "-2",
                "sometimes",
                "",
                "",
                "",
                "",
                "",
            ],
            [
                "mug",
                "",
                "",
                "",
                "",
                "",
                "XL",
                "MUG-XL",
                "9.999",
                "4",
                "deny",
                "yes",
                "",
                "",
                "",
                "",
            ],
            ["mug", "", "", "", "", "", "XXL", "MUG-XXL", "9.99", "4", "deny", "", "", "", "", ""],
            ["cup", "Cup", "", "", "TRUE", "", "", "MUG-XXL", "3", "1", "deny", "", "", "", "", ""],
            ["", "Orphan", "", "", "TRUE", "", "", "ORPHAN", "3", "1", "deny", "", "", "", "", ""],
        ],
    )
    batch = read_shopify_csv(path)
    batch.check_reconciles()
    assert batch.rows_read == 7 and batch.rows_valid == 1 and len(batch.rejects) == 6
    reasons = {r.row_number: " | ".join(r.reasons) for r in batch.rejects}
    assert "row 1" in reasons[1] and "Variant Price" in reasons[1] and "'abc'" in reasons[1]
    assert "Variant Inventory Qty" in reasons[2] and "'1.5'" in reasons[2]
    assert "negative" in reasons[3] and "Variant Inventory Policy" in reasons[3]
    assert "Variant Price" in reasons[4] and "Variant Requires Shipping" in reasons[4]
    assert "MUG-XXL" in reasons[6] and "row 5" in reasons[6]
    assert "Handle" in reasons[7]
    assert batch.rejects[0].raw["Variant Price"] == "abc"
    # A product survives its bad variant rows; one with no usable row at all is not emitted.
    assert batch.products["external_id"].to_list() == ["mug"]
    assert batch.variants["variant_key"].to_list() == ["MUG-XXL"]


def test_an_unknown_status_rejects_every_row_of_that_product(tmp_path: Path) -> None:
    header = ["Handle", "Title", "Status", "Option1 Name", "Option1 Value", "Variant SKU"]
    path = _write(
        tmp_path,
        [
            ["lamp", "Lamp", "retired", "Size", "S", "L-S"],
            ["lamp", "", "", "", "M", "L-M"],
            ["desk", "Desk", "active", "", "", "D-1"],
        ],
        header,
    )
    batch = read_shopify_csv(path)
    batch.check_reconciles()
    assert [r.row_number for r in batch.rejects] == [1, 2]
    assert "Status" in batch.rejects[0].reasons[0] and "'retired'" in batch.rejects[0].reasons[0]
    assert "rejected at row 1" in batch.rejects[1].reasons[0]
    assert batch.products["external_id"].to_list() == ["desk"]
    assert batch.products["active"].to_list() == [True]


def test_rows_of_a_handle_apart_in_the_file_are_one_product_built_in_first_appearance_order(
    tmp_path: Path,
) -> None:
    """A hand-edited file may split a product's rows; they are still one product, and which
    of two rows claiming one SKU wins follows the products' first appearance."""
    header = ["Handle", "Title", "Option1 Name", "Option1 Value", "Variant SKU", "Variant Price"]
    path = _write(
        tmp_path,
        [
            ["lamp", "Lamp", "Size", "S", "L-S", "10"],
            ["desk", "Desk", "", "", "SHARED", "50"],
            ["lamp", "", "", "M", "SHARED", "11"],
            ["", "", "", "", "", ""],
            ["chair", "Chair", "", "", "C-1", "30"],
        ],
        header,
    )
    batch = read_shopify_csv(path)
    batch.check_reconciles()
    # the desk's only row lost its SKU to the lamp, so nothing of the desk is left
    assert batch.products["external_id"].to_list() == ["lamp", "chair"]
    lamp = batch.variants.filter(product_external_id="lamp")
    assert lamp["variant_key"].to_list() == ["L-S", "SHARED"]
    assert lamp["row_number"].to_list() == [1, 3]
    assert [(r.row_number, r.reasons) for r in batch.rejects] == [
        (2, ["row 2: Variant SKU: 'SHARED' is already used at row 3"]),
        (4, ["row 4: Handle: required"]),
    ]


def test_an_export_larger_than_a_block_keeps_every_product_and_variant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Products and variants are gathered a block at a time; none is lost at the seams."""
    from catalog_pipelines.connectors import record_buffer

    monkeypatch.setattr(record_buffer, "BLOCK", 7)
    header = ["Handle", "Title", "Option1 Name", "Option1 Value", "Variant SKU", "Variant Price"]
    rows = []
    for p in range(10):
        rows.append([f"p{p}", f"P {p}", "Size", "S", f"P{p}-S", "10"])
        rows.append([f"p{p}", "", "", "M", f"P{p}-M", "12"])
    batch = read_shopify_csv(_write(tmp_path, rows, header))
    batch.check_reconciles()
    assert batch.products["external_id"].to_list() == [f"p{p}" for p in range(10)]
    assert batch.variants["row_number"].to_list() == list(range(1, 21))
    assert batch.variants["unit_amount"].sum() == 10 * (1000 + 1200)


def _straddling_export(tmp_path: Path) -> Path:
    header = ["Handle", "Title", "Option1 Name", "Option1 Value", "Variant SKU", "Variant Price"]
    rows = []
    for p in range(40):
        rows.append([f"p{p}", f"Product {p} ü", "Size", "S", f"P{p}-S", "10"])
        rows.append([f"p{p}", "", "", "M", f"P{p}-M", "12.5"])
        rows.append([f"p{p}", "", "", "L", f"P{p}-L", "x" if p == 17 else "13"])
    rows[50][1] = "bad\x00title"  # a NUL cell: that row is rejected, the rest imports
    return _write(tmp_path, rows, header)


def test_an_export_read_in_pieces_is_the_export_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pieces of a few hundred bytes cut products apart; the batch is the same to the row."""
    path = _straddling_export(tmp_path)
    whole = read_whole(read_shopify_csv, path, monkeypatch)
    pieces, walked = read_in_pieces(read_shopify_csv, path, monkeypatch, 300)
    # the header's piece, then two walks of the file (the handles, then the rows)
    assert len(walked) > 20 and sum(walked[1:]) == 2 * 120
    assert_same_batch(pieces, whole)
    assert [r.row_number for r in pieces.rejects] == [51, 54]
    assert pieces.products.height == 40 and pieces.variants.height == 118


def test_a_bad_row_in_a_later_piece_refuses_the_file_as_reading_it_whole_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog_pipelines.connectors import csv_pieces

    path = _straddling_export(tmp_path)
    with path.open("a", encoding="utf-8") as f:
        f.write("p99,Extra,Size,S,P99-S,10,one field too many\n")
    monkeypatch.setattr(csv_pieces, "PIECE_BYTES", 300)
    with pytest.raises(InputError) as err:
        read_shopify_csv(path)
    assert str(err.value) == (
        f"{path}: row 121 has 7 fields but the header has 6 (1 such rows); an unquoted separator?"
    )


def _joined(pieces: list[ParsedBatch]) -> ParsedBatch:
    first = pieces[0]
    return ParsedBatch(
        input_name=first.input_name,
        rows_read=sum(p.rows_read for p in pieces),
        products=pl.concat([p.products for p in pieces]),
        variants=pl.concat([p.variants for p in pieces]),
        rejects=sorted((r for p in pieces for r in p.rejects), key=lambda r: r.row_number),
        columns=first.columns,
        unmapped_columns=first.unmapped_columns,
        warnings=[w for p in pieces for w in p.warnings],
        rows_valid=sum(p.rows_valid or 0 for p in pieces),
    )


def test_an_export_built_in_pieces_of_whole_products_is_the_export_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first import streams a Shopify export in pieces of whole products (first_import.py):
    put together they are the batch read whole, rejects and warnings included."""
    path = _straddling_export(tmp_path)
    with path.open("a", encoding="utf-8") as f:
        f.write(",,,,,\n")  # no handle: rejected
        f.write("p3,,,XL,P3-XL,14\n")  # p3's rows apart: p3 is built only now
        f.write("p40,Other,Size,S,P0-S,9\n")  # a SKU p0 claimed: rejected
    whole = read_whole(read_shopify_csv, path, monkeypatch)
    pieces, _ = read_in_pieces(
        lambda p: list(read_shopify_pieces(p, currency="usd", piece_variants=4)),
        path,
        monkeypatch,
        300,
    )
    assert len(pieces) > 10
    for piece in pieces:
        piece.check_reconciles()
        assert piece.rows_valid is not None and piece.rows_valid >= 0
        # a piece holds whole products, and ends once it holds four variants
        assert set(piece.variants["product_external_id"]) <= set(piece.products["external_id"])
    assert all(p.variants.height >= 4 for p in pieces[:-1])
    assert_same_batch(_joined(pieces), whole)
    # p3 waited for its last row, so every product after it waited too
    assert [r.row_number for r in whole.rejects] == [51, 54, 121, 123]
    assert whole.variants.filter(product_external_id="p3")["row_number"].to_list() == [
        10,
        11,
        12,
        122,
    ]
