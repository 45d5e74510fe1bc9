"""Reading a shop export in pieces of a given size, and checking it was never read whole."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import pytest

from catalog_pipelines.connectors import csv_pieces, export_rows
from catalog_pipelines.normalized import ROW_NUMBER, ParsedBatch

T = TypeVar("T")


def read_whole(
    reader: Callable[[Path], ParsedBatch], path: Path, monkeypatch: pytest.MonkeyPatch
) -> ParsedBatch:
    """`reader(path)` with pieces larger than any test file: one piece, as read whole."""
    monkeypatch.setattr(csv_pieces, "PIECE_BYTES", 1 << 30)
    return reader(path)


def read_in_pieces(
    reader: Callable[[Path], T],
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
    piece_bytes: int,
) -> tuple[T, list[int]]:
    """`reader(path)` in pieces of `piece_bytes`, failing if it falls back to reading the file
    whole; with the records of each piece read (the header's piece first, then each walk's)."""
    monkeypatch.setattr(csv_pieces, "PIECE_BYTES", piece_bytes)
    walked: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for table in csv_pieces.csv_pieces(*args, **kwargs):
            walked.append(table.records)
            yield table

    def not_whole(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("read whole")

    monkeypatch.setattr(export_rows, "csv_pieces", counted)
    monkeypatch.setattr(export_rows, "decode_to_utf8", not_whole)
    return reader(path), walked


def assert_same_batch(pieces: ParsedBatch, whole: ParsedBatch) -> None:
    pieces.check_reconciles()
    assert pieces.rows_read == whole.rows_read > 0
    assert pieces.products.equals(whole.products)
    assert pieces.variants.equals(whole.variants)
    assert [(r.row_number, r.reasons, r.raw) for r in pieces.rejects] == [
        (r.row_number, r.reasons, r.raw) for r in whole.rejects
    ]
    assert pieces.warnings == whole.warnings
    assert pieces.unmapped_columns == whole.unmapped_columns


def joined(given: list[ParsedBatch]) -> ParsedBatch:
    """Pieces of an export as one batch, in file order."""
    return replace(
        given[0],
        rows_read=sum(p.rows_read for p in given),
        rows_valid=sum(p.rows_valid or 0 for p in given),
        products=pl.concat([p.products for p in given]).sort(ROW_NUMBER),
        variants=pl.concat([p.variants for p in given]).sort(ROW_NUMBER),
        rejects=sorted((r for p in given for r in p.rejects), key=lambda r: r.row_number),
        warnings=[w for p in given for w in p.warnings],
    )


def apart(given: list[ParsedBatch]) -> None:
    """Each piece's variants are of its own products."""
    for piece in given:
        assert set(piece.variants["product_external_id"]) <= set(piece.products["external_id"])
