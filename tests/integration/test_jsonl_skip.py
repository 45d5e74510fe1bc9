"""A JSON Lines re-import skips unchanged products without parsing their lines
(connectors/generic/jsonl_skip.py), and reports what the full read reports. Each case imports
its files with skipping off and on, into an account each, and compares reports and catalogs;
the cases test_skip_unchanged.py runs on CSV run on JSON Lines there too."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from catalog_pipelines import skip_unchanged
from catalog_pipelines.connectors import csv_pieces
from catalog_pipelines.importer import ImportOptions, import_path
from tests.support.catalog_view import catalog_by_keys
from tests.support.integrity import assert_catalog_integrity
from tests.support.parent_csv import MAPPING, report_view


def _line(i: int, **fields: Any) -> str:
    record = {"id": f"P{i}", "name": f"Product {i}", "price": f"{10 + i}.00", "sku": f"S{i}"}
    return json.dumps({**record, **fields})


BASE = [_line(i) for i in range(6)]


def _both_ways(
    engine: sa.Engine,
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    files: list[list[str]],
    skipped: list[int],
) -> list[Any]:
    """The files imported in turn with skipping off, then on: the same reports and catalog.
    The reports, each with the products the run with skipping skipped (-1: it took none)."""
    mapping = tmp / "m.yaml"
    mapping.write_text(MAPPING.replace("format: csv", "format: jsonl"))
    runs: dict[str, list[Any]] = {}
    for way in ("0", "1"):
        monkeypatch.setenv(skip_unchanged.ENV, way)
        acct = f"{account}_{way}"
        runs[way] = []
        for n, lines in enumerate(files):
            path = tmp / f"feed-{n}.jsonl"  # one name each way: a reject names the file
            path.write_text("\n".join(lines) + "\n")
            options = ImportOptions(source="pim", account_id=acct)
            report = import_path(engine, path, options, format="jsonl", mapping_path=mapping)
            runs[way].append({**report_view(report), "unmapped": report.unmapped_columns})
        assert_catalog_integrity(engine, acct)
    assert runs["0"] == runs["1"]
    assert catalog_by_keys(engine, f"{account}_0") == catalog_by_keys(engine, f"{account}_1")
    return [{**r, "skipped": s} for r, s in zip(runs["1"], skipped[-len(files) :], strict=True)]


def test_a_no_op_reports_every_key_of_the_file_though_it_parses_no_line(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, skipped
) -> None:
    """The file's keys are its columns: a key only some lines have, and a rejected line's keys,
    count as in the full read, so the Dagster schema-drift check sees no change."""
    lines = [*BASE[:2], _line(2, season="winter"), *BASE[3:], '{"id": "P9", "bad": NaN}']
    first, again = _both_ways(engine, tmp_path, monkeypatch, account, [lines, lines], skipped)
    assert first["unmapped"] == again["unmapped"] == ["season"]
    assert again["rows_rejected"] == 1 and again["events"] == 0
    assert [first["skipped"], again["skipped"]] == [0, 6]


def test_a_line_changed_only_in_its_spacing_is_parsed_and_unchanged(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, skipped
) -> None:
    respaced = [*BASE[:3], BASE[3].replace(": ", ":"), *BASE[4:]]
    out = _both_ways(engine, tmp_path, monkeypatch, account, [BASE, respaced], skipped)
    assert out[1]["products"]["unchanged"] == 6 and out[1]["events"] == 0
    assert out[1]["skipped"] == 5  # its bytes moved, so it was processed


def test_keys_written_as_numbers_are_taken_as_the_parser_takes_them(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, skipped
) -> None:
    """A key written 1e2 is "1E+2" (its exact digits), 7 is "7", true is "true", an integer
    past 64 bits keeps its digits: the products are found again by those keys, and skipped."""
    big = "123456789012345678901234567890"
    odd = [("1e2", "S100"), ("7", "S7"), ("true", "ST"), ("0.10", "S010"), (big, "SBIG")]
    lines = [
        *BASE,
        *(f'{{"id": {k}, "name": "Odd key", "price": "5.00", "sku": "{sku}"}}' for k, sku in odd),
    ]
    out = _both_ways(engine, tmp_path, monkeypatch, account, [lines, lines], skipped)
    assert out[0]["products"]["created"] == 11
    assert [r["skipped"] for r in out] == [0, 11]


def test_lines_held_back_in_one_piece_are_read_again_when_their_product_changed_in_another(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    skipped: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """P1 has a variant; two more variants come in the next piece, one of them with a
    duplicate key. P1's two lines in the first piece are P1 as it was, so they are held back
    as maybe unchanged; P1 turns out changed, so they are read again, and the run reports
    what the full read reports, without falling back to it."""
    caplog.set_level(logging.INFO, logger="catalog_pipelines.connectors.generic")
    variant = json.dumps({"id": "V1", "parent": "P1", "name": "Large", "price": "19.00"})
    base = [*BASE, variant[:-1] + ', "sku": "S1L"}']
    more = [
        '{"id": "V2", "parent": "P1", "price": "21.00", "sku": "S1XL"}',
        '{"id": "V3", "parent": "P1", "price": "1.00", "price": "2.00", "sku": "S1M"}',
    ]
    # the first piece ends where the base file ends
    monkeypatch.setattr(csv_pieces, "PIECE_BYTES", len("\n".join(base)) + 1)
    out = _both_ways(engine, tmp_path, monkeypatch, account, [base, [*base, *more]], skipped)
    assert out[1]["rows_rejected"] == 1
    assert out[1]["prices"]["created"] == 1
    assert [r["skipped"] for r in out] == [0, 5]
    assert not [r for r in caplog.records if "without fingerprints" in r.getMessage()]
