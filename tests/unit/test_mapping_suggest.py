"""The mapping assistant's waterfall, step by step, and on exports it has never seen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from catalog_pipelines.connectors.detect import load_batch
from catalog_pipelines.connectors.sampling import (
    format_from_header,
    sample_file,
    suggest_for_file,
    suggest_for_rows,
)
from catalog_pipelines.mapping import load_mapping, mapping_from_dict
from catalog_pipelines.mapping.suggest import Suggestion, suggest

UNSEEN = Path(__file__).resolve().parents[1] / "fixtures" / "unseen"
REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"


def _rows(columns: list[str], *values: list[str]) -> list[dict[str, str]]:
    return [dict(zip(columns, v, strict=True)) for v in values]


def _col(s: Suggestion, column: str) -> dict[str, Any]:
    return next(c.as_json() for c in s.columns if c.column == column)


def _one(header: str, values: list[str], **kw: Any) -> dict[str, Any]:
    """The suggestion for one column beside a key column, so the key rule stays out of it."""
    columns = ["id", header]
    rows = [{"id": f"P{i}", header: v} for i, v in enumerate(values)]
    return _col(suggest(columns, rows, **kw), header)


# ------------------------------------------------------------------ 1. exact and aliases


@pytest.mark.parametrize(
    ("header", "field"),
    [("price", "price"), ("Inventory Quantity", "inventory_quantity"), ("SKU", "sku")],
)
def test_exact_catalog_field_names(header: str, field: str) -> None:
    c = _one(header, ["x1", "x2"])
    assert (c["field"], c["step"], c["confidence"]) == (field, "exact", 1.0)


@pytest.mark.parametrize(
    ("header", "field", "language"),
    [
        ("Artikelnummer", "sku", "German"),
        ("Bezeichnung", "name", "German"),
        ("Preis", "price", "German"),
        ("Währung", "currency", "German"),
        ("Bestand", "inventory_quantity", "German"),
        ("Beschreibung", "description", "German"),
        ("Bild", "images", "German"),
        ("référence", "sku", "French"),
        ("nom", "name", "French"),
        ("prix", "price", "French"),
        ("devise", "currency", "French"),
        ("referencia", "sku", "Spanish"),
        ("nombre", "name", "Spanish"),
        ("precio", "price", "Spanish"),
        ("moneda", "currency", "Spanish"),
        ("existencias", "inventory_quantity", "Spanish"),
        ("Descripción", "description", "Spanish"),
        ("Title", "name", "English"),
        ("qty", "inventory_quantity", "English"),
    ],
)
def test_aliases_per_language(header: str, field: str, language: str) -> None:
    c = _one(header, ["a b", "c d"])
    assert c["field"] == field
    assert c["step"] == "alias"
    assert c["reason"].startswith(f"{language} name for {field}")
    assert c["confidence"] >= 0.9


# ------------------------------------------------------------------ 2. fuzzy


@pytest.mark.parametrize(
    ("header", "field", "why"),
    [
        ("Beschreibng", "description", "close to 'beschreibung'"),  # a typo
        ("Prodct Name", "name", "close to 'product name'"),
        ("price_amount", "price", "contains the word 'price'"),  # an alias among the words
        ("curr", "currency", "abbreviation of 'currency'"),
    ],
)
def test_fuzzy_matches(header: str, field: str, why: str) -> None:
    c = _one(header, ["a b", "c d"])
    assert (c["field"], c["step"]) == (field, "fuzzy")
    assert why in c["reason"]
    assert c["confidence"] < 0.95  # never as sure as a known name


def test_fuzzy_does_not_match_unrelated_headers() -> None:
    assert _one("last_modified", ["2024-01-01", "2024-02-01"])["field"] == "metadata"


# ------------------------------------------------------------------ 3. value sniffing


@pytest.mark.parametrize(
    ("values", "field", "why"),
    [
        (
            ["https://x.test/a.jpg", "https://x.test/b.png|https://x.test/c.webp"],
            "images",
            "image URLs",
        ),
        (["https://shop.test/p/1", "https://shop.test/p/2"], "url", "URLs"),
        (["EUR", "usd"], "currency", "ISO 4217"),
        (["12", "0", "140"], "inventory_quantity", "whole numbers"),
        (["1.249,00", "34,90"], "price", "decimal ','"),
        (["19.99", "5.00"], "price", "decimal '.'"),
        (["<p>A mug</p>", "<p>A cup</p>"], "description", "HTML"),
        (
            ["A very long free text about a product, with its details.", "Another one " * 5],
            "description",
            "long text",
        ),
    ],
)
def test_value_sniffing(values: list[str], field: str, why: str) -> None:
    c = _one("zzq", values)
    assert (c["field"], c["step"]) == (field, "sniff")
    assert why in c["reason"]
    assert c["confidence"] <= 0.75  # sniffing alone is the weakest evidence


def test_sniffing_confirms_a_name_and_raises_its_confidence() -> None:
    alone = _one("Preis", ["a b", "c d"])
    confirmed = _one("Preis", ["1.249,00", "34,90"])
    assert alone["field"] == confirmed["field"] == "price"
    assert confirmed["confidence"] > alone["confidence"]
    assert "amounts" in confirmed["reason"]


def test_money_like_decimal_commas_set_the_decimal_separator() -> None:
    columns = ["id", "name", "zzq"]
    rows = _rows(columns, ["1", "Mug", "1.234,56"], ["2", "Cup", "7,50"])
    s = suggest(columns, rows)
    assert s.mapping.fields["price"] == "zzq"
    assert (s.mapping.decimal_separator, s.mapping.thousands_separator) == (",", ".")
    assert s.dialect.decimal_separator == ","


def test_a_unique_never_empty_column_becomes_the_key_and_is_flagged() -> None:
    columns = ["Bezeichnung", "zzq"]
    rows = _rows(columns, ["Mühle", "K-1"], ["Kanne", "K-2"], ["Mühle", "K-3"])
    s = suggest(columns, rows)
    assert s.mapping.key == "zzq"
    assert _col(s, "zzq")["field"] == "external_id"
    assert _col(s, "zzq")["confidence"] < 0.8
    assert any(r.startswith("key: no column is named like an id") for r in s.needs_review)


# ------------------------------------------------------------------ history


def test_history_wins_for_headers_seen_before() -> None:
    history = {"Preis": ("metadata.list_price", "source erp, mapping version 2")}
    c = _one("Preis", ["1.249,00", "34,90"], history=history)
    assert (c["field"], c["step"]) == ("metadata.list_price", "history")
    assert "source erp, mapping version 2" in c["reason"]
    # a header the history has not seen still goes through the waterfall
    assert _one("Bestand", ["1", "2"], history=history)["field"] == "inventory_quantity"


def test_history_keeps_a_key_that_is_also_the_sku() -> None:
    columns = ["Art", "Name"]
    rows = _rows(columns, ["A-1", "Mug"], ["A-2", "Cup"])
    s = suggest(columns, rows, history={"Art": ("sku", "source de, mapping version 1")})
    assert (s.mapping.key, s.mapping.fields["sku"]) == ("Art", "Art")


# ------------------------------------------------------------------ needs_review, metadata


def test_no_name_no_currency_are_flagged_never_guessed_silently() -> None:
    columns = ["id", "zzq"]
    s = suggest(columns, _rows(columns, ["1", "19.99"], ["2", "5.00"]))
    assert any(r.startswith("name: no column") for r in s.needs_review)
    assert any(r.startswith("currency: no currency column") for r in s.needs_review)
    assert s.mapping.currency == "usd"


def test_a_key_that_repeats_is_flagged() -> None:
    columns = ["id", "name"]
    s = suggest(columns, _rows(columns, ["1", "a"], ["1", "b"]))
    assert s.mapping.key == "id"
    assert any("repeats values" in r for r in s.needs_review)


def test_unmapped_columns_go_to_metadata_and_are_listed() -> None:
    columns = ["id", "name", "Hersteller", "color code"]
    s = suggest(columns, _rows(columns, ["1", "Mug", "Acme", "r"], ["2", "Cup", "Globex", "g"]))
    assert [c.column for c in s.columns] == columns  # every column, in order
    meta = [c.column for c in s.columns if c.field == "metadata"]
    assert meta == ["Hersteller", "color code"]
    assert set(s.mapping.source_columns()) == {"id", "name"}  # the rest reaches metadata


def test_two_columns_never_fill_one_field() -> None:
    columns = ["id", "Preis", "price"]
    s = suggest(columns, _rows(columns, ["1", "2,00", "2.00"], ["2", "3,00", "3.00"]))
    assert s.mapping.fields["price"] == "price"  # the exact name beats the alias
    assert _col(s, "Preis")["field"] == "metadata"


# ------------------------------------------------------------------ files never seen


def _valid_as_it_stands(s: Suggestion) -> None:
    doc = json.loads(json.dumps(s.as_json()["mapping"]))
    assert mapping_from_dict(doc) == s.mapping


def test_pim_export() -> None:
    path = UNSEEN / "pim_export.csv"
    s = suggest_for_file(path)
    _valid_as_it_stands(s)
    assert s.format == "csv"
    assert s.mapping.key == "sku_code"
    assert s.mapping.fields == {
        "sku": "sku_code",
        "name": "title",
        "description": "long_text",
        "price": "price_amount",
        "currency": "curr",
        "inventory_quantity": "stock",
        "images": "image_url",
    }
    assert [c.column for c in s.columns if c.field == "metadata"] == ["category", "last_modified"]
    assert _col(s, "title")["samples"] == [
        "Trail Running Shoe",
        "Merino Base Layer",
        "Headlamp 400",
    ]
    assert not [r for r in s.needs_review if r.startswith("name")]
    batch = load_batch(path, mapping=s.mapping)
    assert not batch.rejects
    prices = dict(zip(batch.variants["sku"], batch.variants["unit_amount"], strict=True))
    assert prices["PIM-000184"] == 12995 and prices["PIM-000187"] == 108900


def test_german_excel_export() -> None:
    path = UNSEEN / "de_excel_export.csv"
    s = suggest_for_file(path)
    _valid_as_it_stands(s)
    assert s.dialect.as_json() == {
        "delimiter": ";",
        "encoding": "cp1252",
        "decimal_separator": ",",
        "thousands_separator": ".",
    }
    m = s.mapping
    assert (m.key, m.delimiter, m.encoding, m.decimal_separator) == (
        "Artikelnummer",
        ";",
        "cp1252",
        ",",
    )
    assert m.fields == {
        "sku": "Artikelnummer",
        "name": "Bezeichnung",
        "description": "Beschreibung",
        "price": "Preis",
        "currency": "Währung",
        "inventory_quantity": "Bestand",
        "images": "Bild",
    }
    assert s.needs_review == []
    batch = load_batch(path, mapping=m)
    assert not batch.rejects
    prices = dict(zip(batch.variants["sku"], batch.variants["unit_amount"], strict=True))
    assert prices == {
        "AX-1001": 124900,
        "AX-1002": 3490,
        "AX-1003": 8950,
        "AX-1004": 239999,
        "AX-1005": 1900,
    }
    assert batch.products["name"][0] == "Kaffeemühle Classic"


def test_the_yaml_of_a_suggestion_is_a_mapping_file(tmp_path: Path) -> None:
    from catalog_pipelines.mapping import dump_mapping

    s = suggest_for_file(UNSEEN / "de_excel_export.csv")
    path = tmp_path / "m.yaml"
    path.write_text(dump_mapping(s.mapping), encoding="utf-8")
    assert load_mapping(path) == s.mapping


def test_jsonl_file(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    lines = [
        {"id": "p1", "nombre": "Taza", "precio": 12.5, "moneda": "EUR", "existencias": 4},
        {"id": "p2", "nombre": "Plato", "precio": 8, "moneda": "EUR", "existencias": 0},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    s = suggest_for_file(path)
    assert s.format == "jsonl" and s.mapping.format == "jsonl"
    assert s.mapping.key == "id"
    assert s.mapping.fields["name"] == "nombre" and s.mapping.fields["price"] == "precio"
    batch = load_batch(path, mapping=s.mapping)
    assert sorted(batch.variants["unit_amount"].to_list()) == [800, 1250]


def test_platform_exports_keep_their_built_in_format() -> None:
    s = suggest_for_file(REAL / "shopify_product_template.csv")
    assert s.format == "shopify"
    woo = suggest_for_file(REAL / "woocommerce_sample_products.csv")  # has a UTF-8 BOM
    assert (woo.format, woo.dialect.encoding) == ("woocommerce", "utf-8")
    assert s.as_json()["mapping"] == {"format": "shopify", "fields": {}}
    assert format_from_header(["sku", "product_type", "attribute_set_code", "store_view_code"]) == (
        "magento"
    )
    rows = suggest_for_rows(["sku", "product_type", "attribute_set_code", "store_view_code"], [])
    assert rows.format == "magento"


def test_sampling_reads_only_the_dialect_it_finds(tmp_path: Path) -> None:
    path = tmp_path / "tabs.tsv"
    path.write_text("id\tname\tprice\n1\tMug\t3.50\n2\tCup\t2.00\n", encoding="utf-8")
    sample = sample_file(path)
    assert (sample.dialect.delimiter, sample.dialect.encoding) == ("\t", "utf-8")
    assert sample.columns == ["id", "name", "price"]
    assert sample.rows[1] == {"id": "2", "name": "Cup", "price": "2.00"}


def test_a_guessed_key_prefers_unmapped_columns_and_keeps_the_name() -> None:
    columns = ["Bezeichnung", "zzq", "Preis"]
    rows = _rows(columns, ["Mühle", "K-1", "1,00"], ["Kanne", "K-2", "2,00"])
    s = suggest(columns, rows)
    assert (s.mapping.key, s.mapping.fields["name"]) == ("zzq", "Bezeichnung")
    # with nothing else unique, the name column is also the key, and stays the name
    only = suggest(
        ["Bezeichnung", "Preis"], _rows(["Bezeichnung", "Preis"], ["A", "1,00"], ["B", "2,00"])
    )
    assert (only.mapping.key, only.mapping.fields["name"]) == ("Bezeichnung", "Bezeichnung")
    assert any(r.startswith("key:") for r in only.needs_review)


def test_a_doubtful_name_is_flagged() -> None:
    columns = ["id", "title_text"]
    s = suggest(columns, _rows(columns, ["1", "Mug"], ["2", "Cup"]))
    assert s.mapping.fields["name"] == "title_text"
    [why] = [r for r in s.needs_review if r.startswith("name:")]
    assert "'title_text' is only a guess" in why and "confidence 0.70" in why


def test_an_empty_file_has_nothing_to_map(tmp_path: Path) -> None:
    from catalog_pipelines.connectors.reading import InputError

    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="nothing to map"):
        suggest_for_file(path)
