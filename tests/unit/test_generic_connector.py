"""Generic CSV and JSON Lines connectors on real files in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from catalog_pipelines.connectors.generic import read_csv, read_jsonl
from catalog_pipelines.connectors.reading import InputError
from catalog_pipelines.mapping import mapping_from_dict

CSV_MAPPING = mapping_from_dict(
    {
        "key": "external_id",
        "currency": "usd",
        "fields": {"name": "name", "price": "price", "sku": "sku", "inventory_quantity": "qty"},
    }
)


def _file(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_csv_with_bom_quoted_newline_and_verbatim_strings(tmp_path: Path) -> None:
    text = (
        "\ufeffexternal_id,name,price,sku,qty,barcode\n"
        '0870,"Two\nlines",1.00,0870-A,3,3.65275E+11\n'
        "0871,Plain,2,,0,\n"
    )
    batch = read_csv(_file(tmp_path, "p.csv", text), CSV_MAPPING)
    assert batch.products["external_id"].to_list() == ["0870", "0871"]
    assert batch.products["name"].to_list() == ["Two\nlines", "Plain"]
    assert batch.products["metadata"].to_list() == [
        [{"key": "barcode", "value": "3.65275E+11"}],
        [],
    ]
    assert batch.variants["variant_key"].to_list() == ["0870-A", "0871"]
    assert batch.variants["unit_amount"].to_list() == [100, 200]
    assert (batch.rows_read, batch.rows_valid, batch.unmapped_columns) == (2, 2, ["barcode"])


def test_csv_cp1252_needs_encoding(tmp_path: Path) -> None:
    path = _file(tmp_path, "excel.csv", "external_id,name\n1,Café\n".encode("cp1252"))
    with pytest.raises(InputError, match=r"excel\.csv.*--encoding cp1252"):
        read_csv(path, CSV_MAPPING)
    m = mapping_from_dict({"key": "external_id", "fields": {"name": "name"}})
    assert read_csv(path, m, encoding="cp1252").products["name"].to_list() == ["Café"]
    m.encoding = "cp1252"  # or from the mapping file
    assert read_csv(path, m).products["name"].to_list() == ["Café"]


def test_csv_utf16_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, "u16.csv", "external_id\n1\n".encode("utf-16"))
    with pytest.raises(InputError, match=r"u16\.csv.*UTF-16"):
        read_csv(path, CSV_MAPPING)


def test_csv_header_only_and_empty(tmp_path: Path) -> None:
    for name, text in [("h.csv", "external_id,name,price,sku,qty\n"), ("e.csv", "")]:
        batch = read_csv(_file(tmp_path, name, text), CSV_MAPPING)
        assert (batch.rows_read, batch.products.height, batch.variants.height) == (0, 0, 0)


def test_csv_overlong_row_is_a_reject_not_an_abort(tmp_path: Path) -> None:
    text = "external_id,name,price,sku,qty\n1,a,1,S1,1\n2,b,1,234.00,S2,1\n3,c,2,S3,1\n"
    batch = read_csv(_file(tmp_path, "r.csv", text), CSV_MAPPING)
    assert [r.row_number for r in batch.rejects] == [2]
    assert "has 6 fields but the header has 5" in batch.rejects[0].reasons[0]
    assert batch.products["external_id"].to_list() == ["1", "3"]
    assert (batch.rows_read, batch.rows_valid) == (3, 2)


def test_csv_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_csv(tmp_path / "absent.csv", CSV_MAPPING)


JSONL_MAPPING = mapping_from_dict(
    {
        "format": "jsonl",
        "key": "id",
        "currency": "eur",
        "fields": {"name": "title", "price": "price", "sku": "sku", "images": "images"},
    }
)


def test_jsonl_rows_rejects_and_metadata(tmp_path: Path) -> None:
    lines = [
        '{"id": "a", "title": "A", "price": 19.90, "sku": "A1", "images": ["x.jpg", "y.jpg"],'
        ' "attrs": {"w": 1.50, "tags": ["t"]}, "on_sale": true, "stock": 3}',
        "",
        '{"id": "b", "title": "B", "price": "5", "id": "c"}',
        '{"id": "d", "price": NaN}',
        "[" * 40 + "]" * 40,
        '{"id": "e", "price": 1e3}',
        "{not json",
        "   ",
        '["an", "array"]',
        '{"id": "f", "title": "F\u2028G", "price": 12.345}',
        '{"id": "g", "title": "G", "price": 3}',
    ]
    path = _file(tmp_path, "feed.jsonl", "\n".join(lines) + "\n")
    batch = read_jsonl(path, JSONL_MAPPING)
    reasons = {r.row_number: r.reasons for r in batch.rejects}
    assert set(reasons) == {3, 4, 5, 6, 7, 9, 10}
    assert "line 3" in reasons[3][0] and "duplicate key 'id'" in reasons[3][0]
    assert "line 4" in reasons[4][0] and "NaN" in reasons[4][0]
    assert "line 5" in reasons[5][0] and "deeper than 32" in reasons[5][0]
    assert reasons[6] == ["price: '1E+3' uses an exponent; write the plain decimal amount"]
    assert "line 7" in reasons[7][0] and "invalid JSON" in reasons[7][0]
    assert "expected an object, got list" in reasons[9][0]
    assert reasons[10] == ["price: '12.345' has 3 decimals but EUR has 2"]
    assert batch.products["external_id"].to_list() == ["a", "g"]
    a = batch.products.row(0, named=True)
    assert a["images"] == ["x.jpg", "y.jpg"]
    assert a["metadata"] == [
        {"key": "attrs", "value": '{"w":1.50,"tags":["t"]}'},
        {"key": "on_sale", "value": "true"},
        {"key": "stock", "value": "3"},
    ]
    assert batch.variants["unit_amount"].to_list() == [1990, 300]
    assert batch.products["row_number"].to_list() == [1, 11]  # line numbers
    # 11 lines, 2 of them blank: rows_read counts the 9 others
    assert (batch.rows_read, batch.rows_valid, len(batch.rejects)) == (9, 2, 7)
    batch.check_reconciles()


def test_jsonl_empty_file(tmp_path: Path) -> None:
    batch = read_jsonl(_file(tmp_path, "e.jsonl", "\n\n"), JSONL_MAPPING)
    assert (batch.rows_read, batch.products.height, batch.rejects) == (0, 0, [])


def _read_jsonl_both_ways(
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    in_pieces_only: bool = True,
    apart: list[int] | None = None,
) -> list[Any]:
    """`read_jsonl` a line a piece (never falling back to the whole text, unless not
    `in_pieces_only`), then of the whole text (as a file in another encoding is read): each
    batch, or the error each raised. `apart` gets a 1 each time the pieces are mapped apart,
    instead of put together and mapped at once."""
    from catalog_pipelines.connectors import csv_pieces, generic

    out: list[Any] = []
    for whole in (False, True):
        with monkeypatch.context() as m:
            m.setattr(csv_pieces, "PIECE_BYTES", 1)
            if apart is not None and not whole:

                def spy(*args: Any, real: Any = generic.map_in_chunks, **kwargs: Any) -> Any:
                    apart.append(1)
                    return real(*args, **kwargs)

                m.setattr(generic, "map_in_chunks", spy)
            if not whole and in_pieces_only:

                def not_whole(*args: Any, **kwargs: Any) -> None:
                    raise AssertionError("read whole")

                m.setattr(generic, "_read_bytes", not_whole)
            if whole:

                def refuse(*args: Any, **kwargs: Any) -> None:
                    raise InputError("read whole")

                m.setattr(generic._JsonlPieces, "parse", refuse)
            try:
                out.append(read_jsonl(path, JSONL_MAPPING))
            except InputError as e:
                out.append(str(e))
    return out


def _assert_same(pieces: Any, whole: Any) -> None:
    assert pieces.rows_read == whole.rows_read
    assert pieces.products.equals(whole.products)
    assert pieces.variants.equals(whole.variants)
    assert [(r.row_number, r.reasons, r.raw) for r in pieces.rejects] == [
        (r.row_number, r.reasons, r.raw) for r in whole.rejects
    ]
    assert (pieces.columns, pieces.unmapped_columns) == (whole.columns, whole.unmapped_columns)
    pieces.check_reconciles()


@pytest.mark.parametrize("shared_sku", [False, True], ids=["apart", "a-sku-in-two-pieces"])
def test_jsonl_pieces_are_mapped_apart_when_no_identifier_is_in_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_sku: bool
) -> None:
    lines = [
        json.dumps({"id": f"p{i}", "title": f"P {i}", "price": price, "sku": f"S{i}"})
        for i, price in enumerate(["1", "2.5", "x", "4", "5"])
    ]
    lines.insert(2, "{not json")
    if shared_sku:  # p4's SKU is p0's: the whole file's mapping rejects p4's record
        lines[-1] = lines[-1].replace('"S4"', '"S0"')
    path = _file(tmp_path, "feed.jsonl", "\n".join(lines) + "\n")
    apart: list[int] = []
    pieces, whole = _read_jsonl_both_ways(path, monkeypatch, apart=apart)
    _assert_same(pieces, whole)
    assert apart == ([] if shared_sku else [1])
    assert [r.row_number for r in pieces.rejects] == ([3, 4, 6] if shared_sku else [3, 4])
    assert pieces.products["external_id"].to_list() == ["p0", "p1", "p3"] + (
        [] if shared_sku else ["p4"]
    )


def test_jsonl_read_a_piece_of_lines_at_a_time_is_the_file_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        '\ufeff{"id": "a", "title": "A", "price": "1", "colour": "red"}',  # after a BOM
        '{"id": "b", "title": "B", "price": "2"}\r',  # CRLF
        "",
        "{not json",
        '{"id": "c", "price": "3", "size": "L", "colour": "blue"}',  # a later key, "size"
        '{"id": "d", "title": "D\u2028E", "price": "4"}',
    ]
    path = _file(tmp_path, "feed.jsonl", "\n".join(lines) + "\n")
    apart: list[int] = []
    pieces, whole = _read_jsonl_both_ways(path, monkeypatch, apart=apart)
    _assert_same(pieces, whole)
    assert apart == []  # the pieces' keys differ: mapped at once
    assert pieces.rows_read == 5
    assert [r.row_number for r in pieces.rejects] == [4]
    assert pieces.unmapped_columns == ["colour", "size"]
    c = pieces.products.row(2, named=True)
    assert c["metadata"] == [{"key": "colour", "value": "blue"}, {"key": "size", "value": "L"}]


def test_jsonl_bad_utf8_in_a_later_piece_is_worded_as_the_whole_file_words_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = b'{"id": "a", "title": "A", "price": "1"}\n'
    path = _file(tmp_path, "feed.jsonl", good * 3 + b'{"id": "b", "title": "\xff"}\n')
    pieces, whole = _read_jsonl_both_ways(path, monkeypatch, in_pieces_only=False)
    assert isinstance(pieces, str) and pieces == whole
    assert "line 4" in pieces
