"""Run an export's import steps with skipping unchanged products off, then on, each in an
account of its own, and check that skipping changed nothing anyone can see."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from catalog_pipelines import skip_unchanged
from tests.support.catalog_view import catalog_by_keys
from tests.support.integrity import assert_catalog_integrity

Step = Callable[[sa.Engine, str, Path], Any]


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
