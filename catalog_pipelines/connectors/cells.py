"""The cells of a shop's product export CSV (Shopify, WooCommerce): reading the file into rows
of string cells, and reading one cell of a row.

A row is the header -> cell mapping that `ExportRows` yields, with its `row_number`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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
    try:
        code = normalize_currency(currency)
    except MoneyError as e:
        raise InputError(f"{source}: {e}") from e
    try:
        rows = ExportRows(Path(path), source=source, encoding=encoding, whole=False)
        return _built(rows, build_batch, export, required_column, code)
    except InputError:
        if encoding is not None:
            raise  # read whole already
    # read whole, so that the error names the file's own row and reason
    rows = ExportRows(Path(path), source=source, encoding=encoding, whole=True)
    return _built(rows, build_batch, export, required_column, code)


def _built(
    rows: ExportRows,
    build_batch: Callable[..., ParsedBatch],
    export: str,
    required_column: str,
    currency: str,
) -> ParsedBatch:
    if rows.columns and required_column not in rows.columns:
        raise InputError(
            f"{rows.source}: not a {export} product CSV (no {required_column!r} column)"
        )
    batch = build_batch(rows, rows.columns, source=rows.source, currency=currency)
    if rows.nul:
        # Rows with a NUL cell are rejected here, never parsed (text_safety.py).
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
