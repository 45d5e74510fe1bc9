"""Mapping files: validation errors that say what is wrong, and the mapping rules."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from catalog_pipelines.connectors.reading import InputError, read_csv_strings
from catalog_pipelines.mapping import (
    Mapping,
    MappingError,
    apply_mapping,
    load_mapping,
    mapping_from_dict,
    parse_bool,
    parse_quantity,
)
from catalog_pipelines.normalized import ParsedBatch


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(text)
    return path


def test_load_mapping_full_example(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
format: csv
key: Handle
parent_key: null
currency: USD
encoding: cp1252
fields:
  name: Title
  price: Variant Price
  option.size: Size
  metadata.brand: Vendor
""",
    )
    m = load_mapping(path)
    assert m == Mapping(
        format="csv",
        key="Handle",
        parent_key=None,
        currency="usd",
        fields={
            "name": "Title",
            "price": "Variant Price",
            "option.size": "Size",
            "metadata.brand": "Vendor",
        },
        encoding="cp1252",
    )


def test_external_id_field_is_the_key() -> None:
    m = mapping_from_dict({"fields": {"external_id": "id", "parent_external_id": "parent"}})
    assert (m.key, m.parent_key, m.fields) == ("id", "parent", {})


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("fields: {name: Title}", "missing `key`"),
        ("key: id\nfields: {title: Title}", "unknown target field 'title'"),
        ("key: id\nfields: {'option.': Size}", "unknown target field 'option.'"),
        ("key: id\ncurrency: dollars", "currency: 'dollars' is not an ISO 4217"),
        ("key: id\nformat: xml", "format 'xml' is not one of"),
        ("key: id\nfields: {active: on}", "fields.active must be a non-empty string, got True"),
        ("key: id\nkeys: x", "unknown setting"),
        ("key: id\nencoding: nope", "unknown encoding 'nope'"),
        ("key: a\nfields: {external_id: b}", "key is 'a' but fields.external_id is 'b'"),
        ("key: [unclosed", "invalid YAML at line"),
        ("- a\n- b", "expected a YAML mapping"),
    ],
)
def test_bad_mapping_files_name_the_file_and_the_problem(
    tmp_path: Path, doc: str, message: str
) -> None:
    path = _write(tmp_path, doc)
    with pytest.raises(MappingError, match=message) as err:
        load_mapping(path)
    assert str(path) in str(err.value)
    assert isinstance(err.value, InputError)  # the CLI exits 2 for it


def test_missing_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read the mapping file"):
        load_mapping(tmp_path / "absent.yaml")


@pytest.mark.parametrize(("text", "value"), [("TRUE", True), ("yes", True), ("1", True)])
def test_parse_bool(text: str, value: bool) -> None:
    assert parse_bool(text) is value
    assert parse_bool({"TRUE": "False", "yes": "NO", "1": "0"}[text]) is not value


def test_parse_quantity_policy() -> None:
    assert parse_quantity("12") == 12
    assert parse_quantity(" 12.00 ") == 12  # spreadsheets write integral numbers this way
    for bad, why in [("12.5", "not a whole number"), ("1e3", "not a whole number")]:
        with pytest.raises(ValueError, match=why):
            parse_quantity(bad)
    with pytest.raises(ValueError, match="negative"):
        parse_quantity("-3")


MAPPING = mapping_from_dict(
    {
        "key": "id",
        "parent_key": "parent",
        "currency": "usd",
        "fields": {
            "name": "title",
            "price": "price",
            "currency": "cur",
            "sku": "sku",
            "inventory_quantity": "qty",
            "inventory_policy": "policy",
            "active": "on",
            "images": "imgs",
            "option.size": "size",
            "metadata.brand": "vendor",
        },
    }
)
HEADER = "id,parent,title,price,cur,sku,qty,policy,on,imgs,size,vendor,color\n"


def _apply(body: str, mapping: Mapping = MAPPING, header: str = HEADER) -> ParsedBatch:
    frame, n = read_csv_strings(header + body, source="t.csv")
    return apply_mapping(frame, mapping, source="t.csv", rows_read=n)


def _reasons(batch: ParsedBatch) -> dict[int, list[str]]:
    return {r.row_number: r.reasons for r in batch.rejects}


def test_one_row_product_with_unmapped_column_in_metadata() -> None:
    b = _apply("A,,Shirt,19.99,,A1,5,Deny,yes,a.jpg | b.jpg,S,Acme,red\n")
    assert b.products.to_dicts() == [
        {
            "row_number": 1,
            "external_id": "A",
            "name": "Shirt",
            "description": None,
            "active": True,
            "images": ["a.jpg", "b.jpg"],
            "url": None,
            "shippable": None,
            "tax_code": None,
            "unit_label": None,
            "metadata": [{"key": "brand", "value": "Acme"}, {"key": "color", "value": "red"}],
        }
    ]
    (v,) = b.variants.to_dicts()
    assert v["variant_key"] == v["sku"] == "A1"
    assert (v["product_external_id"], v["currency"], v["unit_amount"]) == ("A", "usd", 1999)
    assert (v["inventory_quantity"], v["inventory_policy"], v["active"]) == (5, "deny", True)
    assert v["options"] == [{"key": "size", "value": "S"}]
    assert v["metadata"] == []
    assert b.unmapped_columns == ["color"]
    assert (b.rows_read, b.rows_valid, b.rejects) == (1, 1, [])


@pytest.mark.parametrize(
    ("price", "cur", "units", "reason"),
    [
        ("500", "JPY", 500, None),
        ("1.250", "kwd", 1250, None),
        ("1,234.50", "", 123450, None),  # Python fallback accepts what the fast path does not
        (" 7.5 ", "", 750, None),
        ("12.345", "", None, "price: '12.345' has 3 decimals but USD has 2"),
        ("500.5", "jpy", None, "price: '500.5' has 1 decimals but JPY has 0"),
        ("-1", "", None, "price: '-1' is negative"),
        ("NaN", "", None, "price: 'NaN' is not a number"),
        ("1e3", "", None, "price: '1e3' uses an exponent; write the plain decimal amount"),
        (
            "3.65275E+11",
            "",
            None,
            "price: '3.65275E+11' uses an exponent; write the plain decimal amount",
        ),
        (
            "99999999999999999999",
            "",
            None,
            "price: '99999999999999999999' is too large: 9999999999999999999900 minor units"
            " of USD, more than 99,999,999 (Stripe's largest unit_amount)",
        ),
        ("5", "dollars", None, "currency: 'dollars' is not an ISO 4217 currency code"),
    ],
)
def test_money(price: str, cur: str, units: int | None, reason: str | None) -> None:
    b = _apply(f'A,,Shirt,"{price}",{cur},A1,,,,,,,\n')
    if reason is None:
        assert b.variants["unit_amount"].to_list() == [units]
        assert b.variants["currency"].to_list() == [(cur or "usd").lower()]
    else:
        assert _reasons(b) == {1: [reason]}
        assert b.products.height == 0  # the product's only row was rejected


def test_fast_and_slow_money_paths_agree_on_many_values() -> None:
    from catalog_pipelines import money

    values = ["0", "0.0", "0.01", "1.10", "10.001", "12.3400", "007.5", "99999999999999.99"]
    for cur in ("usd", "jpy", "kwd", "clf"):
        body = "".join(f"P{i},,n,{v},{cur},S{i},,,,,,,\n" for i, v in enumerate(values))
        b = _apply(body)
        got = dict(zip(b.variants["sku"], b.variants["unit_amount"], strict=True))
        for i, v in enumerate(values):
            try:
                expected = money.to_minor_units(v, cur)
            except money.MoneyError:
                expected = None
            assert got.get(f"S{i}") == expected, (v, cur)


def test_missing_currency_without_default_is_a_reason() -> None:
    m = mapping_from_dict({"key": "id", "fields": {"price": "price"}})
    b = _apply("A,1.00\n", m, header="id,price\n")
    assert _reasons(b) == {1: ["currency: missing for price '1.00' and the mapping has no default"]}


def test_every_bad_field_is_named_in_one_reject() -> None:
    b = _apply(",,x,abc,,S1,1.5,later,maybe,,,,\n")
    assert _reasons(b) == {
        1: [
            "external_id: missing (column 'id' is empty)",
            "price: 'abc' is not a non-negative decimal amount",
            "active: 'maybe' is not a boolean (true/false/yes/no/1/0)",
            "inventory_quantity: '1.5' is not a whole number",
            "inventory_policy: 'later' is not one of deny, continue",
        ]
    }
    assert b.rejects[0].raw["price"] == "abc"
    assert (b.rows_read, b.rows_valid) == (1, 0)


def test_variants_sharing_a_key_and_conflicts() -> None:
    body = (
        "A,,Shirt,10,,A1,1,,,a.jpg,S,Acme,red\n"
        "A,,Shirt,11,,A2,2,,,,M,Acme,blue\n"  # variant: differing color goes to the variant
        "A,,,,,,,,,c.jpg,,,\n"  # image row merges into the product
        "A,,Shirt XL,,,,,,,,,,\n"  # conflicting name on a non-variant row
        "B,,Pants,5,,,,,,,,,\n"
        "B,,Pants,6,,,,,,,,,\n"  # second SKU-less variant of B
        "C,,Cap,7,,A1,,,,,,,\n"  # SKU already used
    )
    b = _apply(body)
    assert _reasons(b) == {
        4: ["name: 'Shirt XL' conflicts with 'Shirt' on row 1 for product 'A'"],
        6: [
            "sku: missing, and product 'B' already has a variant without a SKU on row 5;"
            " give each variant a SKU"
        ],
        7: ["sku: 'A1' is already used on row 1"],
    }
    assert b.products["external_id"].to_list() == ["A", "B"]  # C had only a rejected row
    assert b.products["images"].to_list() == [["a.jpg", "c.jpg"], None]
    variants = {r["variant_key"]: r for r in b.variants.to_dicts()}
    assert set(variants) == {"A1", "A2", "B"}
    assert variants["A2"]["metadata"] == [{"key": "color", "value": "blue"}]
    assert variants["A2"]["options"] == [{"key": "size", "value": "M"}]
    assert variants["A1"]["metadata"] == []
    assert (b.rows_read, b.rows_valid, len(b.rejects)) == (7, 4, 3)


def test_parent_key_children_and_orphans() -> None:
    body = (
        "H,,Hoodie,,,,,,,,,,\n"
        "H-R,H,Hoodie - Red,20,,,3,,,r.jpg,,,\n"
        "H-B,H,Hoodie - Blue,20,,HB,3,,,,,,\n"
        "X-1,X,Lost,20,,,,,,,,,\n"
    )
    b = _apply(body)
    assert _reasons(b) == {
        4: ["parent_external_id: 'X' (column 'parent') matches no valid product row in this file"]
    }
    assert b.products["external_id"].to_list() == ["H"]
    assert b.products["images"].to_list() == [["r.jpg"]]
    rows = b.variants.select("product_external_id", "variant_key", "sku", "nickname").rows()
    assert rows == [("H", "H-R", None, "Hoodie - Red"), ("H", "HB", "HB", "Hoodie - Blue")]


def test_first_valid_row_leads_the_product() -> None:
    b = _apply("A,,Bad,x,,A1,,,,,,,\nA,,Good,1,,A2,,,,,,,\n")
    assert b.products.select("row_number", "name").rows() == [(2, "Good")]


def test_metadata_key_collision_is_an_input_error() -> None:
    m = mapping_from_dict({"key": "id", "fields": {"metadata.brand": "vendor"}})
    with pytest.raises(InputError, match="metadata key 'brand' would come both from"):
        _apply("1,Acme,Other\n", m, header="id,vendor,brand\n")


def test_missing_mapped_column_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"mapped column\(s\) \['price'\] not in the file"):
        _apply("1\n", mapping_from_dict({"key": "id", "fields": {"price": "price"}}), "id\n")


def test_header_only_gives_an_empty_batch() -> None:
    b = _apply("")
    assert (b.products.height, b.variants.height, b.rows_read, b.rows_valid) == (0, 0, 0, 0)


def test_vectorized_path_handles_many_rows_quickly() -> None:
    n = 50_000
    frame = pl.DataFrame(
        {
            "row_number": pl.int_range(1, n + 1, eager=True),
            "id": [f"p{i}" for i in range(n)],
            "price": [f"{i % 1000}.{i % 100:02d}" for i in range(n)],
        }
    )
    m = mapping_from_dict({"key": "id", "currency": "eur", "fields": {"price": "price"}})
    b = apply_mapping(frame, m, source="gen", rows_read=n)
    assert b.variants.height == n
    assert b.variants["unit_amount"][:3].to_list() == [0, 101, 202]
