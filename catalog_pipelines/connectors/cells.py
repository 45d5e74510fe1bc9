"""The cells of a shop's product export CSV (Shopify, WooCommerce): reading the file into rows
of string cells, and reading one cell of a row.

A row is the header -> cell mapping that `ExportRows` yields, with its `row_number`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from catalog_pipelines.connectors.export_rows import ExportRows, Row
from catalog_pipelines.connectors.export_skip import (
    ColumnKey,
    ExportKey,
    PrintedRows,
    keep_changed_rows,
)
from catalog_pipelines.connectors.reading import ROW_NUMBER, InputError
from catalog_pipelines.fingerprints import KEY, SkipRequest, Unskippable
from catalog_pipelines.money import MoneyError, normalize_currency
from catalog_pipelines.normalized import ParsedBatch

log = logging.getLogger(__name__)

WHOLE_NUMBER = re.compile(r"^[+-]?\d+$")


class NotInPieces(Exception):
    """An export's products cannot be cut apart into pieces that build as the whole file
    builds: it is read whole."""


def read_export(
    path: str | Path,
    build_batch: Callable[..., ParsedBatch],
    *,
    export: str,
    required_column: str,
    encoding: str | None,
    currency: str,
    skip: SkipRequest | None = None,
    key: ExportKey | None = None,
) -> ParsedBatch:
    """Read `path` as string cells, then `build_batch(rows, columns, source=, currency=)` with
    an `ExportRows` the builder walks once or twice. The file is refused (InputError) when the
    currency is unknown, the file cannot be decoded, or it has columns but not
    `required_column`: then it is not an export of `export` ("Shopify", "WooCommerce").

    With `skip`, the products the source's last import left unchanged are not built
    (export_skip.py); `key` says which product a row belongs to (by default, the rows that
    share a `required_column` cell)."""
    source = str(path)
    code = _currency(source, currency)
    if skip is not None and encoding is None:
        try:
            key = key or ColumnKey(required_column)
            return _skipping(Path(path), build_batch, export, key, code, skip)
        except Unskippable as e:
            log.info("%s: read without fingerprints, skipping nothing: %s", source, e)
        except InputError:
            pass  # read below: the error is worded for the whole file there
    try:
        rows = ExportRows(Path(path), source=source, encoding=encoding, whole=False)
        return _built(rows, build_batch, export, required_column, code)
    except InputError:
        if encoding is not None:
            raise  # read whole already
    # read whole, so that the error names the file's own row and reason
    rows = ExportRows(Path(path), source=source, encoding=encoding, whole=True)
    return _built(rows, build_batch, export, required_column, code)


def read_export_pieces(
    path: Path,
    build_pieces: Callable[..., Iterator[ParsedBatch]],
    *,
    export: str,
    required_column: str,
    currency: str,
    piece_variants: int,
    skip: SkipRequest | None = None,
    key: ExportKey | None = None,
) -> Iterator[ParsedBatch]:
    """The batch `read_export` reads from a UTF-8 export, in pieces of whole products
    (`build_pieces(rows, columns, source=, currency=, piece_variants=)`); with `skip`, each
    with the fingerprints of its products (Unskippable when they cannot be taken; `key` as
    `read_export`'s). An InputError may be worded for a piece of the file: `read_export` words
    it for the whole file. NotInPieces: the export's products cannot be cut apart."""
    source = str(path)
    code = _currency(source, currency)
    rows = (
        ExportRows(path, source=source, encoding=None, whole=False)
        if skip is None
        else PrintedRows(
            path,
            export=export,
            key=key or ColumnKey(required_column),
            skip=skip,
            currency=code,
        )
    )
    _refuse_other_export(rows, export, required_column)
    pieces = build_pieces(
        rows, rows.columns, source=source, currency=code, piece_variants=piece_variants
    )
    held = next(pieces)
    for piece in pieces:
        if isinstance(rows, PrintedRows):
            rows.give(held)
        yield held
        held = piece
    if isinstance(rows, PrintedRows):
        rows.give(held)
    yield _with_nul_rows(held, rows)  # the walk is over: its NUL rows are known


def _skipping(
    path: Path,
    build_batch: Callable[..., ParsedBatch],
    export: str,
    key: ExportKey,
    currency: str,
    skip: SkipRequest,
) -> ParsedBatch:
    rows = ExportRows(path, source=str(path), encoding=None, whole=False)
    _refuse_other_export(rows, export, key.column)
    prints = keep_changed_rows(rows, export=export, key=key, skip=skip, currency=currency)
    batch = build_batch(rows, rows.columns, source=rows.source, currency=currency)
    assert batch.rows_valid is not None
    batch.rows_valid += prints.skipped_rows
    prints.warned = pl.Series(KEY, batch.warned_keys, dtype=pl.Utf8)
    batch.fingerprints = prints
    return _with_nul_rows(batch, rows)


def _currency(source: str, currency: str) -> str:
    try:
        return normalize_currency(currency)
    except MoneyError as e:
        raise InputError(f"{source}: {e}") from e


def _refuse_other_export(rows: ExportRows, export: str, required_column: str) -> None:
    if rows.columns and required_column not in rows.columns:
        raise InputError(
            f"{rows.source}: not a {export} product CSV (no {required_column!r} column)"
        )


def _built(
    rows: ExportRows,
    build_batch: Callable[..., ParsedBatch],
    export: str,
    required_column: str,
    currency: str,
) -> ParsedBatch:
    _refuse_other_export(rows, export, required_column)
    batch = build_batch(rows, rows.columns, source=rows.source, currency=currency)
    return _with_nul_rows(batch, rows)


def _with_nul_rows(batch: ParsedBatch, rows: ExportRows) -> ParsedBatch:
    """`batch` (the last of a walk's) with the walk's rows that have a NUL cell as rejects:
    they are rejected here, never parsed (text_safety.py)."""
    if rows.nul:
        batch.rows_read += len(rows.nul)
        batch.rejects = sorted([*batch.rejects, *rows.nul.values()], key=lambda r: r.row_number)
        batch.check_reconciles()
    return batch


def cell(row: Row, column: str) -> str | None:
    """A cell's text, or None when the column is absent or the cell is blank (not given)."""
    value = row.get(column)
    if value is None or value.strip() == "":
        return None
    return value


def stripped(row: Row, column: str) -> str | None:
    value = cell(row, column)
    return None if value is None else value.strip()


def row_number(row: Row) -> int:
    return int(row[ROW_NUMBER])  # type: ignore[arg-type]


def raw(row: Row) -> dict[str, Any]:
    """The row's cells as read, for a Reject."""
    return {k: v for k, v in row.items() if k != ROW_NUMBER}


def parse_quantity(value: str | None, column: str, errors: list[str]) -> int | None:
    """Strict integer >= 0: '12' yes; '12.0', '1e3' and '-2' no (inventory is never negative)."""
    if value is None:
        return None
    text = value.strip()
    if not WHOLE_NUMBER.match(text):
        errors.append(f"{column}: {value!r} is not a whole number")
        return None
    quantity = int(text)
    if quantity < 0:
        errors.append(f"{column}: {value!r} is negative; quantities must be >= 0")
        return None
    return quantity
