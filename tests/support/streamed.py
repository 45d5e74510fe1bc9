"""Which imports streamed a first import (catalog_pipelines/first_import.py), and making a small
export stream."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from catalog_pipelines import first_import, plan_parts
from catalog_pipelines.connectors import csv_pieces


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


def stream_small_exports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Make a small export's first import stream: pieces of four variants, parts of five
    products, temporary files in `tmp_path / "spill"` (which a test can check is left empty)."""
    monkeypatch.setattr(csv_pieces, "PIECE_BYTES", 1)
    monkeypatch.setattr(first_import, "EXPORT_PIECE_VARIANTS", 4)
    monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 5)
    spill = tmp_path / "spill"
    spill.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill))
