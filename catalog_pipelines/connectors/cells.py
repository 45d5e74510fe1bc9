"""The cells of a shop's product export CSV (Shopify, WooCommerce): reading the file into rows
of string cells, and reading one cell of a row.

A row is the header -> cell mapping that `ExportRows` yields, with its `row_number`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from catalog_pipelines.connectors.export_rows import ExportRows, Row
from catalog_pipelines.connectors.reading import ROW_NUMBER, InputError
from catalog_pipelines.money import MoneyError, normalize_currency
from catalog_pipelines.normalized import ParsedBatch

WHOLE_NUMBER = re.compile(r"^[+-]?\d+$")


def read_export(
    path: str | Path,
    build_batch: Callable[..., ParsedBatch],
    *,
    export: str,
    required_column: str,
    encoding: str | None,
    currency: str,
) -> ParsedBatch:
    """Read `path` as string cells, then `build_batch(rows, columns, source=, currency=)` with
    an `ExportRows` the builder walks once or twice. The file is refused (InputError) when the
    currency is unknown, the file cannot be decoded, or it has columns but not
    `required_column`: then it is not an export of `export` ("Shopify", "WooCommerce")."""
    source = str(path)
    code = _currency(source, currency)
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
) -> Iterator[ParsedBatch]:
    """The batch `read_export` reads from a UTF-8 export, in pieces of whole products
    (`build_pieces(rows, columns, source=, currency=, piece_variants=)`). An InputError may be
    worded for a piece of the file: `read_export` words it for the whole file."""
    source = str(path)
    code = _currency(source, currency)
    rows = ExportRows(path, source=source, encoding=None, whole=False)
    _refuse_other_export(rows, export, required_column)
    pieces = build_pieces(
        rows, rows.columns, source=source, currency=code, piece_variants=piece_variants
    )
    held = next(pieces)
    for piece in pieces:
        yield held
        held = piece
    yield _with_nul_rows(held, rows)  # the walk is over: its NUL rows are known


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
