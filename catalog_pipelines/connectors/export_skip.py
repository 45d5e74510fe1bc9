"""A shop export's fingerprints (fingerprints.py): a re-import skips the products whose rows
are those of the source's last import, as a generic CSV's does, and a first import read in
pieces takes each piece's prints, so that the next run can skip.

A re-import reads the file in pieces (csv_pieces.py), hashes each row and keeps only the rows
of the products that may have changed; the builder then walks those alone
(`ExportRows.only`). Which product a row belongs to is the export's `ExportKey`: for Shopify,
its `Handle` stripped, as the builder strips it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from catalog_pipelines.connectors.csv_pieces import csv_pieces
from catalog_pipelines.connectors.export_rows import ExportRows, walkable
from catalog_pipelines.fingerprints import (
    KEY,
    Fingerprints,
    SkipRequest,
    Unskippable,
    product_key,
    row_prints,
)
from catalog_pipelines.frames import compacted
from catalog_pipelines.mapping.apply import blank_to_null
from catalog_pipelines.normalized import ROW_NUMBER, ParsedBatch, Reject
from catalog_pipelines.piece_prints import PiecePrints, refused_frame
from catalog_pipelines.read_ahead import ReadAhead
from catalog_pipelines.skip_decision import decide

# Rows of changed products held in memory once read; past it, the builder's two walks read the
# file again for them, so a re-import that changes most products does not hold the file.
KEEP_ROWS = 100_000
# Python's str.strip() strips these and Polars' strip_chars() does not: a key with one could
# name another product than the builder's.
_PYTHON_ONLY_SPACE = "[\x1c-\x1f]"


def salt_parts(header: list[str], export: str, currency: str) -> dict[str, Any]:
    """What a print depends on besides the rows and the import's rules."""
    return {"header": header, "export": export, "currency": currency}


class ExportKey(Protocol):
    """Which product each row of an export belongs to, as its builder groups them."""

    column: str  # the column the export cannot do without

    def prepare(self, frames: Iterable[pl.DataFrame]) -> None:
        """Learn what `of` needs from the whole file, before the walk that hashes it: a
        generator of a walk (ExportRows.frames), which a key that needs nothing leaves alone.
        Raises Unskippable."""
        ...

    def of(self, frame: pl.DataFrame) -> pl.Expr:
        """The product key of each row of `frame` (a piece of the file's string cells)."""
        ...

    def check(self, frame: pl.DataFrame) -> None:
        """Raise Unskippable when `frame`'s keys could name another product than the
        builder's; may note what `done` checks across pieces."""
        ...

    def done(self) -> None:
        """Raise Unskippable when the pieces seen, together, make the keys unsafe."""
        ...


class ColumnKey:
    """A product is the rows that share one key cell (Shopify's `Handle`)."""

    def __init__(self, column: str) -> None:
        self.column = column

    def prepare(self, frames: Iterable[pl.DataFrame]) -> None:
        pass

    def of(self, frame: pl.DataFrame) -> pl.Expr:
        return product_key(self.column, None)

    def check(self, frame: pl.DataFrame) -> None:
        check_stripped(frame, [self.column])

    def done(self) -> None:
        pass


def stripped_cells(frame: pl.DataFrame, column: str) -> pl.Expr:
    """A column's cells stripped, blank as null, as `cells.stripped` reads them (a column the
    file lacks: all null)."""
    if column not in frame.columns:
        return pl.lit(None, dtype=pl.Utf8)
    return blank_to_null(pl.col(column))


def check_stripped(frame: pl.DataFrame, columns: list[str]) -> None:
    """Raise Unskippable when a cell of `columns` would be stripped otherwise by Polars."""
    for column in columns:
        if column in frame.columns and frame[column].str.contains(_PYTHON_ONLY_SPACE).any():
            raise Unskippable(f"a {column!r} cell holds an ASCII separator character")


def _check_header(rows: ExportRows, key_column: str) -> None:
    if key_column not in rows.columns:  # an empty file: its read says what it makes
        raise Unskippable(f"no {key_column!r} column")


def keep_changed_rows(
    rows: ExportRows, *, export: str, key: ExportKey, skip: SkipRequest, currency: str
) -> Fingerprints:
    """Read the UTF-8 export of `rows` in pieces and leave `rows` walking only the rows of the
    products not skipped; return the batch's fingerprints. Raises InputError as a walk of the
    file would (possibly worded for its piece), Unskippable when prints cannot be taken."""
    _check_header(rows, key.column)
    key.prepare(rows.frames())
    source = rows.source
    prints = PiecePrints(skip)
    prints.rules(salt_parts(rows.columns, export, currency))
    held: list[pl.DataFrame] | None = []
    held_rows = records = 0
    nul: dict[int, Reject] = {}
    refused: list[pl.DataFrame] = []
    # the next piece is read and parsed while this one is hashed and sorted out
    with ReadAhead(csv_pieces(rows.path, source=source), name="export-ahead") as pieces:
        for table in pieces:
            frame, found = walkable(table, rows.columns, source=source)
            if found:
                raw = table.frame.filter(pl.col(ROW_NUMBER).is_in(list(found)))
                refused.append(raw.select(ROW_NUMBER, key.of(raw).alias(KEY)))
                nul.update(found)
            records += table.records
            del table
            key.check(frame)
            hashed = row_prints(frame, key=key.of(frame))
            prints.add(hashed)
            if held is not None:
                kept = frame.filter(~prints.maybe_skipped(hashed))
                held_rows += kept.height
                held.append(compacted(kept) if kept.height < frame.height // 2 else kept)
                if held_rows > KEEP_ROWS:
                    held = None  # the walks read the file again
            del frame, hashed
    key.done()
    wanted, fingerprints = prints.decide(refused_frame(refused))
    if held is not None:
        held = [f.filter(pl.col(ROW_NUMBER).is_in(wanted.implode())) for f in held]
        if sum(f.height for f in held) != wanted.len():
            held = None  # a product held back as probably unchanged was not skipped after all
    if held is None and wanted.len() <= KEEP_ROWS:
        held = _read_again(rows, wanted)  # once, not once for each of the builder's walks
    rows.only(wanted, held=held, records=records, nul=nul)
    return fingerprints


def _read_again(rows: ExportRows, wanted: pl.Series) -> list[pl.DataFrame]:
    """The rows numbered `wanted`, read from the file again."""
    numbers = wanted.implode()
    again = []
    for table in csv_pieces(rows.path, source=rows.source):
        frame, _ = walkable(table, rows.columns, source=rows.source)
        again.append(compacted(frame.filter(pl.col(ROW_NUMBER).is_in(numbers))))
    return again


class PrintedRows(ExportRows):
    """The rows of a UTF-8 export that a builder walks to build it in pieces (a first import),
    each frame of the walk of its rows hashed, so that each piece gets the prints of the
    products it was built from (`give`). Raises Unskippable, from the walk, when `key` says
    prints cannot be taken."""

    def __init__(
        self, path: Path, *, export: str, key: ExportKey, skip: SkipRequest, currency: str
    ) -> None:
        super().__init__(path, source=str(path), encoding=None, whole=False)
        _check_header(self, key.column)
        self._key = key
        self._skip = skip
        self.salt = salt_parts(self.columns, export, currency)
        self._pending: list[pl.DataFrame] = []  # (external_id, _h, row_number) not yet given

    def walked(self) -> Iterator[pl.DataFrame]:
        self._key.prepare(self.frames())
        for frame in self.frames():
            self._key.check(frame)
            self._pending.append(row_prints(frame, key=self._key.of(frame)))
            yield frame
        self._key.done()

    def give(self, piece: ParsedBatch) -> None:
        """Set `piece.fingerprints` to those of the products it was built from: the rows walked
        so far of its products' keys and of its rejects' keys."""
        raws = pl.from_dicts(
            [r.raw for r in piece.rejects], schema=dict.fromkeys(self.columns, pl.Utf8)
        )
        rejected = raws.select(self._key.of(raws).alias(KEY)).to_series()
        named = pl.concat([piece.products["external_id"], rejected]).to_frame(KEY)
        keys = named.select(product_key(KEY, None)).to_series().drop_nulls()
        pending = pl.concat(self._pending) if self._pending else _NO_ROWS
        mine = pending[KEY].is_in(keys.implode()).fill_null(False)
        self._pending = [pending.filter(~mine)]
        _, piece.fingerprints = decide(
            pending.filter(mine), _NO_REFUSED, salt_parts=self.salt, request=self._skip
        )
        piece.fingerprints.warned = pl.Series(KEY, piece.warned_keys, dtype=pl.Utf8)


_NO_ROWS = pl.DataFrame(schema={KEY: pl.Utf8, "_h": pl.UInt64, ROW_NUMBER: pl.Int64})
_NO_REFUSED = pl.DataFrame(schema={ROW_NUMBER: pl.Int64, KEY: pl.Utf8})
