"""A shop export's rows, a piece of the file at a time.

A builder walks them once or twice and holds only the rows it still needs. Read whole, a
Shopify export of a million rows held the file, its text and a frame of 48 string columns (16
bytes a cell, blank or not) at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import polars as pl

from catalog_pipelines.connectors.csv_pieces import csv_pieces
from catalog_pipelines.connectors.reading import (
    CsvTable,
    decode_to_utf8,
    nul_reason,
    read_csv_table_bytes,
    refuse_overlong,
)
from catalog_pipelines.normalized import ROW_NUMBER, Reject

Row = Mapping[str, str | None]  # header -> cell, plus `row_number`

HEADER_PIECE_BYTES = 1 << 16  # enough for the header; longer first records are read on


class ExportRows:
    """The rows of the CSV at `path`, numbered as in the file.

    In pieces when the file is UTF-8 (`encoding` None) and `whole` is false; otherwise the file
    is decoded and parsed once and held. Rows with a NUL in a cell are left out of the walk and
    kept as `nul` rejects. `rows_read` counts the other records, as of the last complete walk.
    Raises `InputError` for a file that cannot be read, possibly worded for its piece: read it
    again with `whole` for the whole file's own message."""

    def __init__(self, path: Path, *, source: str, encoding: str | None, whole: bool) -> None:
        self.path = path
        self.source = source
        self.rows_read = 0
        self.nul: dict[int, Reject] = {}
        self._table: CsvTable | None = None
        self._only: pl.Series | None = None
        self._held: list[pl.DataFrame] | None = None
        if whole or encoding is not None:
            data = decode_to_utf8(path.read_bytes(), source=source, encoding=encoding)
            self._table = read_csv_table_bytes(data, source=source)
            header = self._table.header
        else:
            first = csv_pieces(path, source=source, piece_bytes=HEADER_PIECE_BYTES)
            header = next(first).header
        self.columns: list[str] = list(header)

    def _tables(self) -> Iterator[CsvTable]:
        if self._table is not None:
            yield self._table
        else:
            yield from csv_pieces(self.path, source=self.source)

    def only(
        self,
        numbers: pl.Series,
        *,
        held: list[pl.DataFrame] | None,
        records: int,
        nul: dict[int, Reject],
    ) -> None:
        """Walk only the rows numbered `numbers` (a re-import's changed products), taken from
        `held` when given (those rows, as `frames` yields them), else read again from the
        file; `records` and `nul` are the whole file's, as a walk of it counted them."""
        self._only, self._held = numbers, held
        self.rows_read, self.nul = records - len(nul), nul

    def frames(self) -> Iterator[pl.DataFrame]:
        """One walk over the file: a frame of string cells and `row_number` per piece."""
        if self._held is not None:
            yield from self._held
            return
        records, nul = 0, {}
        for table in self._tables():
            frame, found = walkable(table, self.columns, source=self.source)
            records += table.records
            nul.update(found)
            if self._only is not None:
                frame = frame.filter(pl.col(ROW_NUMBER).is_in(self._only.implode()))
            yield frame
        if self._only is None:
            self.rows_read, self.nul = records - len(nul), nul

    def walked(self) -> Iterator[pl.DataFrame]:
        """`frames`, for the walk a builder builds from (which PrintedRows also hashes)."""
        return self.frames()

    def rows(self) -> Iterator[Row]:
        """One walk over the file, a row at a time."""
        for frame in self.walked():
            yield from frame.iter_rows(named=True)


def walkable(
    table: CsvTable, columns: list[str], *, source: str
) -> tuple[pl.DataFrame, dict[int, Reject]]:
    """A table's rows to walk, and the rejects of its rows with a NUL in a cell. Raises
    InputError for a row with more fields than the header."""
    refuse_overlong(table, source=source)
    found = _nul_rows(table.frame, columns, bool(table.unstorable))
    frame = table.frame
    if found:
        frame = frame.filter(pl.col(ROW_NUMBER).is_in(list(found)).not_())
    return frame, found


def _nul_rows(frame: pl.DataFrame, columns: list[str], any_nul: bool) -> dict[int, Reject]:
    """Rows with a NUL in a cell, as rejects naming the columns."""
    if not any_nul:
        return {}
    hits = frame.filter(
        pl.any_horizontal(pl.col(c).str.contains("\x00", literal=True) for c in columns)
    )
    out = {}
    for row in hits.iter_rows(named=True):
        rn = int(row[ROW_NUMBER])
        bad = [c for c in columns if row[c] is not None and "\x00" in row[c]]
        out[rn] = Reject(rn, {k: v for k, v in row.items() if k != ROW_NUMBER}, [nul_reason(bad)])
    return out
