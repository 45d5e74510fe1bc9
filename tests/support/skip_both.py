"""Run an export's import steps with skipping unchanged products off, then on, each in an
account of its own, and check that skipping changed nothing anyone can see."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from catalog_pipelines import piece_prints, skip_unchanged
from catalog_pipelines.connectors import csv_pieces, export_skip
from catalog_pipelines.importer import ImportOptions, import_path
from tests.support.catalog_view import catalog_by_keys
from tests.support.exports import write_csv
from tests.support.integrity import assert_catalog_integrity
from tests.support.parent_csv import report_view

Step = Callable[[sa.Engine, str, Path], Any]


def import_step(fmt: str, source: str, header: list[str], rows: list[list[str]]) -> Step:
    """A step that imports `rows` under `header` as an export of `fmt` from `source`; its
    report's view."""

    def step(engine: sa.Engine, account: str, tmp: Path) -> Any:
        path = write_csv(tmp / f"{abs(hash(str(rows)))}.csv", header, rows)
        options = ImportOptions(source=source, account_id=account)
        return report_view(import_path(engine, path, options, format=fmt))

    return step


def run_both(
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    tmp_path: Path,
    steps: list[Step],
) -> list[Any]:
    """The same reports and catalogs both ways; the reports of the run with skipping on."""
    results, catalogs = {}, {}
    for enabled in ("0", "1"):
        monkeypatch.setenv(skip_unchanged.ENV, enabled)
        acct = f"{account}_{enabled}"
        results[enabled] = [step(engine, acct, tmp_path) for step in steps]
        catalogs[enabled] = catalog_by_keys(engine, acct)
        assert_catalog_integrity(engine, acct)
    assert results["1"] == results["0"]
    assert catalogs["1"] == catalogs["0"]
    return results["1"]


Both = Callable[[list[Step]], list[Any]]


@pytest.fixture(params=["whole", pytest.param("tiny-pieces", marks=pytest.mark.slow)])
def reading(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The file read in one piece, or in pieces of a row or two, so that a product's rows
    fall in several pieces and the builder reads the rows it needs from the file again.
    A test module uses it by importing it (with `both`)."""
    if request.param == "tiny-pieces":
        monkeypatch.setattr(csv_pieces, "PIECE_BYTES", 48)
        monkeypatch.setattr(piece_prints, "SPLIT_ROWS", 3)
        monkeypatch.setattr(export_skip, "KEEP_ROWS", 1)
    return str(request.param)


@pytest.fixture
def both(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, reading: str
) -> Both:
    """Run the steps with skipping off, then on, each in an account of its own: the same
    reports and catalogs. The reports of the run with skipping on."""
    return lambda steps: run_both(engine, monkeypatch, account, tmp_path, steps)
