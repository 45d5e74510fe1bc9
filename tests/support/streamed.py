"""Which imports streamed a first import (catalog_pipelines/first_import.py), and making a small
export stream."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from catalog_pipelines import first_import, plan_parts
from catalog_pipelines.connectors import csv_pieces
from catalog_pipelines.importer import ImportOptions, import_path
from tests.support.catalog_view import catalog_by_keys
from tests.support.integrity import assert_catalog_integrity
from tests.support.parent_csv import report_view


def streamed_pieces(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets, for each import that streams, the number of its pieces, as it plans
    its parts from them."""
    seen: list[int] = []
    real = first_import.Stream.parts

    def parts(self: first_import.Stream) -> Any:
        seen.append(len(self.pieces))
        yield from real(self)

    monkeypatch.setattr(first_import.Stream, "parts", parts)
    return seen


def reimported_pieces(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets, for each re-import that takes a stream's pieces as a batch whose
    products wait on disk (a feed's: first_import.Stream.validated), the number of its pieces."""
    seen: list[int] = []
    real = first_import.Stream.validated

    def validated(self: first_import.Stream, mapped: Any = None) -> Any:
        seen.append(len(self.pieces))
        return real(self, mapped)

    monkeypatch.setattr(first_import.Stream, "validated", validated)
    return seen


def stream_small_exports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Make a small export's first import stream: pieces of four variants, parts of five
    products, temporary files in `tmp_path / "spill"` (which a test can check is left empty)."""
    monkeypatch.setattr(csv_pieces, "PIECE_BYTES", 1)
    monkeypatch.setattr(first_import, "EXPORT_PIECE_VARIANTS", 4)
    monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 5)
    spill = tmp_path / "spill"
    spill.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill))


def streamed_and_whole(
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    path: Path,
    account: str,
    fmt: str,
    *,
    warnings_in_any_order: bool = False,
) -> list[Any]:
    """The export `path` imported twice into an account with streaming on, then into another
    with it off: the same reports and catalogs (ids aside). The reports with streaming on.
    `warnings_in_any_order`: a product that waits for a later row is warned with its piece."""
    reports = {}
    for way in ("1", "0"):
        monkeypatch.setenv(first_import.ENV, way)
        options = ImportOptions(source=fmt, account_id=f"{account}_{way}")
        reports[way] = [
            report_view(import_path(engine, path, options, format=fmt)) for _ in range(2)
        ]
        assert_catalog_integrity(engine, f"{account}_{way}")
    if warnings_in_any_order:
        assert [sorted(r["warnings"]) for r in reports["1"]] == [
            sorted(r["warnings"]) for r in reports["0"]
        ]
        for r in (*reports["1"], *reports["0"]):
            r["warnings"] = sorted(r["warnings"])
    assert reports["1"] == reports["0"]
    assert catalog_by_keys(engine, f"{account}_1") == catalog_by_keys(engine, f"{account}_0")
    return reports["1"]
