"""The cells of a shop's product export CSV (Shopify, WooCommerce): reading the file into rows
of string cells, and reading one cell of a row.

A row is the header -> cell mapping that `read_csv_strings` produces, with its `row_number`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from catalog_pipelines.connectors.reading import (
    ROW_NUMBER,
    InputError,
    decode,
    nul_reason,
    read_csv_strings,
)
from catalog_pipelines.money import MoneyError, normalize_currency
from catalog_pipelines.normalized import ParsedBatch, Reject

Row = Mapping[str, str | None]
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
    """Decode `path` and read it as strings, then `build_batch(rows, columns, source=,
    currency=, rows_read=)`. The file is refused (InputError) when the currency is unknown, the
    file cannot be decoded, or it has columns but not `required_column`: then it is not an
    export of `export` ("Shopify", "WooCommerce")."""
    source = str(path)
    try:
        code = normalize_currency(currency)
    except MoneyError as e:
        raise InputError(f"{source}: {e}") from e
    text = decode(Path(path).read_bytes(), source=source, encoding=encoding)
    frame, rows_read = read_csv_strings(text, source=source)
    columns = [c for c in frame.columns if c != ROW_NUMBER]
    if columns and required_column not in columns:
        raise InputError(f"{source}: not a {export} product CSV (no {required_column!r} column)")
    nul = _nul_rows(frame, columns, text)
    if nul:
        frame = frame.filter(pl.col(ROW_NUMBER).is_in(list(nul)).not_())
    batch = build_batch(
        frame.iter_rows(named=True),
        columns,
        source=source,
        currency=code,
        rows_read=rows_read - len(nul),
    )
    if nul:
        # Rows with a NUL cell are rejected here, never parsed (text_safety.py).
        batch.rows_read += len(nul)
        batch.rejects = sorted([*batch.rejects, *nul.values()], key=lambda r: r.row_number)
        batch.check_reconciles()
    return batch


def _nul_rows(frame: pl.DataFrame, columns: list[str], text: str) -> dict[int, Reject]:
    """Rows with a NUL in a cell, as rejects naming the columns."""
    if "\x00" not in text:
        return {}
    hits = frame.filter(
        pl.any_horizontal(pl.col(c).str.contains("\x00", literal=True) for c in columns)
    )
    out = {}
    for row in hits.iter_rows(named=True):
        rn = int(row[ROW_NUMBER])
        bad = [c for c in columns if row[c] is not None and "\x00" in row[c]]
        out[rn] = Reject(rn, raw(row), [nul_reason(bad)])
    return out


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
