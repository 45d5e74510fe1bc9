"""Strict decoding, lossless CSV reading with an independent count, strict JSON."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from catalog_pipelines.connectors.reading import (
    InputError,
    decode,
    parse_json_strict,
    read_csv_strings,
    read_csv_table,
)


def test_decode_utf8_with_and_without_bom() -> None:
    assert decode("Handle,Prix\nà,1\n".encode(), source="a.csv") == "Handle,Prix\nà,1\n"
    assert decode(b"\xef\xbb\xbfHandle\n", source="a.csv") == "Handle\n"


def test_decode_invalid_utf8_names_file_line_and_encoding_option() -> None:
    data = b"Handle,Name\nx,caf\xe9\n"
    with pytest.raises(InputError) as err:
        decode(data, source="export.csv")
    msg = str(err.value)
    assert "export.csv" in msg
    assert "byte 17" in msg
    assert "line 2" in msg
    assert "--encoding cp1252" in msg


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be"])
def test_decode_utf16_is_refused_without_encoding(codec: str) -> None:
    data = "Handle,Name\nx,y\n".encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data
    with pytest.raises(InputError, match=r"excel\.csv.*UTF-16.*--encoding"):
        decode(data, source="excel.csv")


def test_decode_utf16_without_bom_is_refused() -> None:
    with pytest.raises(InputError, match=r"x\.csv: NUL byte .*--encoding utf-16"):
        decode("ab".encode("utf-16-le"), source="x.csv")


def test_decode_with_explicit_encoding_cp1252() -> None:
    assert decode(b"Name\ncaf\xe9 \x80\n", source="a.csv", encoding="cp1252") == "Name\ncafé €\n"
    assert decode("Name\n".encode("utf-16"), source="a.csv", encoding="utf-16") == "Name\n"


def test_decode_explicit_encoding_is_strict() -> None:
    # 0x81 is undefined in cp1252: a lossy decoder would invent a character
    with pytest.raises(InputError, match=r"a\.csv: not valid cp1252 at byte 5"):
        decode(b"Name\n\x81\n", source="a.csv", encoding="cp1252")
    with pytest.raises(InputError, match="unknown encoding"):
        decode(b"x", source="a.csv", encoding="no-such-codec")


def test_header_only_and_empty_files_give_zero_rows() -> None:
    frame, n = read_csv_strings("Handle,Title\n", source="h.csv")
    assert (frame.height, n) == (0, 0)
    assert frame.columns == ["row_number", "Handle", "Title"]
    frame, n = read_csv_strings("", source="e.csv")
    assert (frame.height, n) == (0, 0)


def test_everything_stays_a_string_verbatim() -> None:
    text = "sku,barcode,price\n0870,3.65275E+11,012.50\n"
    frame, n = read_csv_strings(text, source="a.csv")
    assert n == 1
    assert all(dtype == pl.Utf8 for name, dtype in frame.schema.items() if name != "row_number")
    assert frame.row(0, named=True) == {
        "row_number": 1,
        "sku": "0870",
        "barcode": "3.65275E+11",
        "price": "012.50",
    }


def test_quoted_newlines_and_blank_lines_are_counted_right() -> None:
    text = 'id,body\n1,"line one\nline two\n\nline four"\n\n2,"x"\r\n3,""\n'
    frame, n = read_csv_strings(text, source="a.csv")
    assert n == 3
    assert frame["row_number"].to_list() == [1, 2, 3]
    assert frame["body"].to_list() == ["line one\nline two\n\nline four", "x", None]


def test_unbalanced_quote_names_the_file() -> None:
    with pytest.raises(InputError, match=r"bad\.csv: malformed CSV"):
        read_csv_strings('id,name\n1,"never closed\n2,b\n', source="bad.csv")


@pytest.mark.parametrize(
    ("header", "message"), [("a,,b", "column 2 has no name"), ("a,b,a", "repeats the name 'a'")]
)
def test_bad_headers_are_refused(header: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_csv_strings(header + "\n1,2,3\n", source="a.csv")


def test_overlong_rows_are_refused_by_read_csv_strings_and_reported_by_table() -> None:
    text = "id,price\n1,2\n2,1,234.00\n"
    with pytest.raises(InputError, match="row 2 has 3 fields but the header has 2"):
        read_csv_strings(text, source="a.csv")
    table = read_csv_table(text, source="a.csv")
    assert table.overlong == {2: 3}
    assert table.records == 2


def test_short_rows_are_padded_with_nulls() -> None:
    frame, n = read_csv_strings("a,b,c\n1\n", source="a.csv")
    assert n == 1
    assert frame.row(0) == (1, "1", None, None)


def test_real_woocommerce_export_bom_and_count(fixtures_dir: Path) -> None:
    path = fixtures_dir / "woocommerce_sample_products.csv"
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # the trap this test is about
    text = decode(data, source=str(path))
    frame, n = read_csv_strings(text, source=str(path))
    assert frame.columns[1] == "ID"
    independent = sum(1 for r in csv.reader(io.StringIO(text, newline="")) if r) - 1
    assert n == independent == frame.height
    assert frame["row_number"].to_list() == list(range(1, n + 1))


def test_parse_json_strict_accepts_plain_json_with_exact_decimals() -> None:
    assert parse_json_strict('{"p": 19.90, "n": 2}', source="a.jsonl", line=1) == {
        "p": Decimal("19.90"),
        "n": 2,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ('{"a": NaN}', "NaN"),
        ('{"a": -Infinity}', "Infinity"),
        ("[" * 33 + "]" * 33, "deeper than 32"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"a": ', "invalid JSON"),
    ],
)
def test_parse_json_strict_rejections_name_source_and_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        parse_json_strict(text, source="feed.jsonl", line=7)
    assert str(err.value).startswith("feed.jsonl, line 7:")


def test_depth_32_is_allowed() -> None:
    assert parse_json_strict("[" * 32 + "]" * 32, source="a", line=1) is not None
