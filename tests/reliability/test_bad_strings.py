"""Strings PostgreSQL cannot store (NUL, lone surrogates) are rejected per row, naming the row
and the field; the good rows of the same file still import, and nothing crashes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from catalog_pipelines.cli import main

JSONL_MAPPING = """\
format: jsonl
key: id
currency: usd
fields:
  name: title
  price: price
  sku: sku
"""
CSV_MAPPING = JSONL_MAPPING.replace("format: jsonl", "format: csv")

# Each line as written in the file: JSON escapes, so the file itself is plain ASCII.
JSONL_LINES = [
    r'{"id": "ok-1", "title": "Fine", "price": "1.00", "sku": "OK-1"}',
    r'{"id": "nul", "title": "a\u0000b", "price": "1.00", "sku": "NUL-1"}',
    r'{"id": "sur", "title": "a\ud800b", "price": "1.00", "sku": "SUR-1"}',
    r'{"id": "key", "ti\u0000tle": "x", "price": "1.00", "sku": "KEY-1"}',
    r'{"id": "deep", "title": "y", "extra": {"list": ["\udfff"]}, "sku": "DEEP-1"}',
    r'{"id": "sku-nul", "title": "z", "price": "1.00", "sku": "S\u0000"}',
    r'{"id": "ok-2", "title": "Also fine \u00e9 \ud83d\ude00", "price": "2.00", "sku": "OK-2"}',
]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _import(capsys, path: Path, mapping: Path, account: str, source: str) -> tuple[int, dict]:
    code, out, err = _run(
        capsys, "import", str(path), "--source", source, "--mapping", str(mapping),
        "--account", account, "--json",
    )  # fmt: skip
    assert "Traceback" not in err
    return code, json.loads(out)


def _rejects(capsys, run_id: str, account: str) -> list[dict[str, str]]:
    code, out, _ = _run(capsys, "rejects", "export", run_id, "--account", account)
    assert code == 0
    return list(csv.DictReader(io.StringIO(out)))


def test_jsonl_bad_strings_are_rejected_per_row(
    database_url: str, account: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(JSONL_MAPPING)
    path = tmp_path / "feed.jsonl"
    path.write_text("\n".join(JSONL_LINES) + "\n")
    code, report = _import(capsys, path, mapping, account, "feed")
    assert code == 1  # applied, with rejects
    assert report["rows_read"] == 7
    assert report["rows_rejected"] == 5
    assert report["products"]["created"] == 2
    rows = {int(r["row_number"]): r["reasons"] for r in _rejects(capsys, report["run_id"], account)}
    assert set(rows) == {2, 3, 4, 5, 6}
    assert rows[2].startswith("title: contains a NUL character") and "line 2" in rows[2]
    assert rows[3].startswith("title: contains a lone surrogate (U+D800)")
    assert "key contains a NUL" in rows[4] and "ti\\u0000tle" in rows[4]
    assert rows[5].startswith("extra.list[0]: contains a lone surrogate (U+DFFF)")
    assert rows[6].startswith("sku: contains a NUL")
    # the good rows are in the catalog, byte for byte
    code, out, _ = _run(capsys, "products", "list", "--account", account, "--json")
    names = sorted(p["name"] for p in json.loads(out)["data"])
    assert names == ["Also fine é 😀", "Fine"]


def test_csv_cells_with_nul_are_rejected_per_row(
    database_url: str, account: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(CSV_MAPPING)
    path = tmp_path / "sheet.csv"
    path.write_bytes(
        b"id,title,price,sku,note\n"
        b"a,Alpha,1.00,A-1,plain\n"
        b"b,Be\x00ta,1.00,B-1,plain\n"
        b"c,Gamma,1.00,C-1,x\x00y\n"
        b"d,Delta,1.00,D-1,plain\n"
    )
    code, report = _import(capsys, path, mapping, account, "sheet")
    assert code == 1
    assert (report["rows_read"], report["rows_valid"], report["rows_rejected"]) == (4, 2, 2)
    assert report["products"]["created"] == 2
    rows = {int(r["row_number"]): r for r in _rejects(capsys, report["run_id"], account)}
    assert rows[2]["reasons"].startswith("'title': contains a NUL character")
    assert rows[3]["reasons"].startswith("'note': contains a NUL character")
    assert rows[2]["title"] == "Be\\u0000ta"  # kept visibly, not lost


def test_shopify_csv_with_a_nul_cell_keeps_the_other_products(
    database_url: str, account: str, tmp_path: Path, fixtures_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    lines = (fixtures_dir / "shopify_product_template.csv").read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b",", b",\x00", 1)  # the first data row's second cell
    path = tmp_path / "shop.csv"
    path.write_bytes(b"\n".join(lines))
    code, out, err = _run(
        capsys, "import", str(path), "--source", "shop", "--account", account, "--json"
    )
    assert "Traceback" not in err
    report = json.loads(out)
    assert code == 1
    assert report["rows_rejected"] >= 1
    assert report["products"]["created"] >= 1
    assert report["rows_read"] == report["rows_valid"] + report["rows_rejected"]


def test_utf16_without_bom_is_still_refused_as_a_whole(
    database_url: str, account: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(CSV_MAPPING)
    path = tmp_path / "excel.csv"
    path.write_bytes("id,title,price,sku\na,A,1.00,A-1\n".encode("utf-16-le"))
    code, _, err = _run(
        capsys, "import", str(path), "--source", "x", "--mapping", str(mapping),
        "--account", account,
    )  # fmt: skip
    assert code == 2
    assert "--encoding utf-16" in err
