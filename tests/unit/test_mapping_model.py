"""The mapping model: pydantic validation naming the key, the European settings, round trips,
and the European number formats applied to real rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog_pipelines.connectors.generic import read_csv
from catalog_pipelines.mapping import (
    MappingError,
    dump_mapping,
    load_mapping,
    mapping_from_dict,
    parse_mapping_text,
)
from catalog_pipelines.mapping.amounts import canonical_amount
from catalog_pipelines.money import MoneyError


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"key": "id", "fields": {"price": 12}}, "fields.price: must be a non-empty string"),
        ({"key": "id", "decimal_separator": ";"}, "decimal_separator: must be '.' or ','"),
        ({"key": "id", "thousands_separator": "x"}, "thousands_separator: must be one of"),
        ({"key": "id", "delimiter": ";;"}, "delimiter: must be one character"),
        ({"key": ""}, "key: must be a non-empty string"),
        (
            {"key": "id", "decimal_separator": ",", "thousands_separator": ","},
            "thousands_separator and decimal_separator are both ','",
        ),
        ({"key": "id", "fields": {"name": "a"}, "extra": 1}, "unknown setting 'extra'"),
    ],
)
def test_errors_name_the_key(doc: dict, message: str) -> None:
    with pytest.raises(MappingError, match=message) as err:
        mapping_from_dict(doc, where="shop.yaml")
    assert str(err.value).startswith("shop.yaml: ")


def test_several_errors_are_all_reported() -> None:
    with pytest.raises(MappingError) as err:
        mapping_from_dict({"key": 5, "fields": {"name": ""}, "delimiter": "ab"})
    text = str(err.value)
    assert "key:" in text and "fields.name:" in text and "delimiter:" in text


def test_european_settings_and_magento_format_are_valid() -> None:
    m = mapping_from_dict(
        {
            "key": "Artikelnummer",
            "delimiter": "\\t",
            "encoding": "cp1252",
            "decimal_separator": ",",
            "thousands_separator": ".",
            "fields": {"price": "Preis"},
        }
    )
    assert (m.delimiter, m.decimal_separator, m.thousands_separator) == ("\t", ",", ".")
    assert mapping_from_dict({"format": "magento"}).format == "magento"


def test_dump_then_load_gives_the_same_mapping(tmp_path: Path) -> None:
    m = mapping_from_dict(
        {
            "format": "csv",
            "key": "Artikelnummer",
            "currency": "EUR",
            "delimiter": ";",
            "decimal_separator": ",",
            "fields": {"metadata.brand": "Hersteller", "price": "Preis", "name": "Bezeichnung"},
        }
    )
    path = tmp_path / "m.yaml"
    path.write_text(dump_mapping(m), encoding="utf-8")
    assert load_mapping(path) == m
    assert list(m.fields) == ["metadata.brand", "price", "name"]
    assert "decimal_separator: ','" in dump_mapping(m)
    # fields are dumped in the documented order of catalog fields
    assert dump_mapping(m).index("name:") < dump_mapping(m).index("price:")


def test_yaml_text_errors_name_where() -> None:
    with pytest.raises(MappingError, match="mapping: invalid YAML"):
        parse_mapping_text("key: [", where="mapping")


@pytest.mark.parametrize(
    ("text", "decimal", "thousands", "canonical"),
    [
        ("1.249,00", ",", None, "1249.00"),
        ("34,90", ",", None, "34.90"),
        ("12 500,5", ",", None, "12500.5"),
        ("1.249", ",", None, "1249"),
        ("1.249,00", ",", ".", "1249.00"),
        ("1,089.00", ".", ",", "1089.00"),
        ("19.99", ".", None, "19.99"),  # the default passes text through to money's rules
    ],
)
def test_canonical_amounts(text: str, decimal: str, thousands: str | None, canonical: str) -> None:
    assert canonical_amount(text, decimal, thousands) == canonical


@pytest.mark.parametrize(
    ("text", "thousands"), [("12.50", None), ("1.24,00", None), ("12 500,00", ".")]
)
def test_amounts_that_do_not_fit_the_separators_are_refused(
    text: str, thousands: str | None
) -> None:
    with pytest.raises(MoneyError, match="decimal separator ','"):
        canonical_amount(text, ",", thousands)


def test_csv_with_semicolons_cp1252_and_decimal_commas(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(
        "Nr;Name;Preis\r\nA1;Kaffeemühle;1.249,00\r\nA2;Tee;34,90\r\nA3;Brot;12.50\r\n".encode(
            "cp1252"
        )
    )
    mapping = mapping_from_dict(
        {
            "key": "Nr",
            "currency": "eur",
            "encoding": "cp1252",
            "delimiter": ";",
            "decimal_separator": ",",
            "fields": {"name": "Name", "price": "Preis"},
        }
    )
    batch = read_csv(path, mapping)
    amounts = dict(zip(batch.variants["variant_key"], batch.variants["unit_amount"], strict=True))
    assert amounts == {"A1": 124900, "A2": 3490}
    assert batch.products["name"].to_list()[0] == "Kaffeemühle"
    [reject] = batch.rejects
    assert reject.row_number == 3
    assert "price: '12.50' does not fit the mapping's decimal separator ','" in reject.reasons[0]
