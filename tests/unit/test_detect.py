"""Format detection from names and headers, and dispatch to the right connector."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from catalog_pipelines.connectors.detect import detect_format, load_batch
from catalog_pipelines.connectors.reading import InputError
from catalog_pipelines.mapping import mapping_from_dict

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
SHOPIFY = REAL / "shopify_product_template.csv"
WOO = REAL / "woocommerce_sample_products.csv"


def test_real_exports_are_recognised() -> None:
    assert detect_format(SHOPIFY) == "shopify"
    assert WOO.read_bytes().startswith(b"\xef\xbb\xbf")
    assert detect_format(WOO) == "woocommerce"  # despite the BOM on "ID"


def test_detection_ignores_the_file_name_for_csv_headers(tmp_path: Path) -> None:
    # An export renamed by the merchant is still recognised by its header.
    renamed = tmp_path / "export (3).txt"
    shutil.copy(SHOPIFY, renamed)
    assert detect_format(renamed) == "shopify"
    utf16 = tmp_path / "excel.csv"
    utf16.write_bytes(WOO.read_text(encoding="utf-8-sig").encode("utf-16"))
    assert detect_format(utf16) == "woocommerce"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("items.jsonl", "", "jsonl"),
        ("items.NDJSON", '"not even json"\n', "jsonl"),
        ("items.txt", '\n\n  {"sku": "A-1", "price": "1.00"}\n', "jsonl"),
        ("items.csv", "sku,name,price\nA-1,Mug,9.99\n", "csv"),
        ("handles.csv", "Handle,Title\nmug,Mug\n", "csv"),  # no variant columns: not Shopify
        ("types.csv", "Type,SKU,Name\nsimple,A,Mug\n", "csv"),  # no price/stock: not Woo
        ("shop.csv", "Handle,Title,Variant SKU\nmug,Mug,M-1\n", "shopify"),
        ("woo.csv", "\ufeffID,Type,SKU,Regular price\n1,simple,A,9\n", "woocommerce"),
        ("empty.csv", "", "csv"),
        (
            "m2.csv",
            "sku,store_view_code,attribute_set_code,product_type\nA,,Default,simple\n",
            "magento",
        ),
        ("skus.csv", "sku,product_type,name\nA,simple,Mug\n", "csv"),  # no Magento-only column
    ],
)
def test_detect_format(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert detect_format(path) == expected


def test_load_batch_dispatches_to_the_built_in_connectors() -> None:
    shopify = load_batch(SHOPIFY)
    assert (shopify.products.height, shopify.variants.height) == (3, 16)
    woo = load_batch(WOO, currency="eur")
    assert (woo.products.height, woo.variants.height) == (18, 22)
    assert set(woo.variants["currency"].to_list()) == {"eur"}
    # an explicit format wins over detection
    with pytest.raises(InputError, match="not a Shopify product CSV"):
        load_batch(WOO, format="shopify")


def test_csv_and_jsonl_need_a_mapping(tmp_path: Path) -> None:
    csv_path = tmp_path / "items.csv"
    csv_path.write_text("sku,name,price\nA-1,Mug,9.99\n", encoding="utf-8")
    jsonl_path = tmp_path / "items.jsonl"
    jsonl_path.write_text('{"sku": "A-1", "name": "Mug", "price": "9.99"}\n', encoding="utf-8")
    for path in (csv_path, jsonl_path):
        with pytest.raises(InputError, match="--mapping"):
            load_batch(path)
    with pytest.raises(InputError, match="unknown format"):
        load_batch(csv_path, format="xlsx")


def test_csv_with_a_mapping_goes_to_the_generic_connector(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("sku,name,price,color\nA-1,Mug,9.99,red\n", encoding="utf-8")
    mapping = mapping_from_dict(
        {"format": "csv", "key": "sku", "fields": {"name": "name", "price": "price", "sku": "sku"}}
    )
    batch = load_batch(path, mapping=mapping, currency="GBP")
    assert batch.rows_read == 1 and batch.rejects == []
    assert batch.products["name"].to_list() == ["Mug"]
    assert batch.variants["unit_amount"].to_list() == [999]
    assert batch.variants["currency"].to_list() == ["gbp"]


def test_an_unreadable_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        detect_format(tmp_path / "missing.csv")
