"""Strict, lossless reading shared by every file connector.

Why strict: a wrong encoding silently corrupts names, and a CSV parser that drops rows on quoted
newlines (Polars has done so) would make a full import archive real products. So bytes are
decoded strictly, every CSV cell stays a string (`0870` and `3.65275E+11` verbatim), and the
number of records is counted a second time, without Polars, and compared: by a quote-aware
byte scan (connectors/record_count.py), or Python's `csv` module when the file needs it.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import polars as pl

from catalog_pipelines.connectors.record_count import count_records

ROW_NUMBER = "row_number"
MAX_JSON_DEPTH = 32

_BOMS_NOT_UTF8: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xfe\x00\x00", "UTF-32-LE"),
    (b"\x00\x00\xfe\xff", "UTF-32-BE"),
    (b"\xff\xfe", "UTF-16-LE"),
    (b"\xfe\xff", "UTF-16-BE"),
)


class InputError(ValueError):
    """The input cannot be read as given (encoding, structure). The CLI exits with code 2."""


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode(data: bytes, *, source: str, encoding: str | None = None) -> str:
    """Bytes to text, never lossily.

    Without `encoding`: UTF-8 with or without a BOM (the BOM is stripped so it does not stick to
    the first header). UTF-16/32 and invalid UTF-8 raise `InputError` telling the user which
    byte/line failed and to pass `--encoding`. With `encoding`: that codec, errors='strict'.
    """
    if encoding is not None:
        try:
            text = data.decode(encoding, errors="strict")
        except LookupError as e:
            raise InputError(f"{source}: unknown encoding {encoding!r}") from e
        except UnicodeDecodeError as e:
            raise InputError(
                f"{source}: not valid {encoding} at byte {e.start} (line {_line_of(data, e.start)}):"
                f" {data[e.start : e.end]!r}; pass the file's real encoding with --encoding"
            ) from e
        return text.removeprefix("\ufeff")

    for bom, name in _BOMS_NOT_UTF8:
        if data.startswith(bom):
            raise InputError(
                f"{source}: the file starts with a {name} byte order mark, not UTF-8;"
                f" pass --encoding {name.lower().replace('-le', '').replace('-be', '')}"
                " or save it as UTF-8"
            )
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise InputError(
            f"{source}: NUL byte at byte {offset} (line {_line_of(data, offset)}); the file looks"
            " like UTF-16 without a byte order mark: pass --encoding utf-16-le (or utf-16-be)"
        )
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise InputError(
            f"{source}: not valid UTF-8 at byte {e.start} (line {_line_of(data, e.start)}):"
            f" {data[e.start : e.end]!r}. If Excel or Windows wrote it, pass --encoding cp1252"
            " (or the file's real encoding)"
        ) from e
    return text.removeprefix("\ufeff")


@dataclass
class CsvTable:
    """A CSV read as strings, with what the independent `csv` pass found."""

    frame: pl.DataFrame  # every column Utf8 (empty -> null) plus `row_number` (Int64, 1-based)
    records: int  # data records counted by Python's csv module (blank lines excluded)
    header: list[str]
    # row_number -> number of fields, for rows with more fields than the header. Polars keeps only
    # the first len(header) of them, so the caller must reject these rows (or fail).
    overlong: dict[int, int] = field(default_factory=dict)


def _raise_field_limit() -> None:
    """Descriptions with inline HTML exceed csv's default 128 KiB field limit."""
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 10


def _count_records(text: str, *, source: str) -> tuple[list[str] | None, int, list[int], dict]:
    """Independent pass with the csv module: header, data records, blank-record positions."""
    _raise_field_limit()
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    blanks: list[int] = []  # 0-based positions among data records (as Polars sees them)
    overlong: dict[int, int] = {}
    position = -1
    count = 0
    try:
        for record in reader:
            if header is None:
                header = record
                continue
            position += 1
            if not record:
                blanks.append(position)
                continue
            count += 1
            if len(record) > len(header):
                overlong[count] = len(record)
    except csv.Error as e:
        raise InputError(
            f"{source}: malformed CSV near line {reader.line_num}: {e} (an unbalanced quote?)"
        ) from e
    return header, count, blanks, overlong


def decode_to_utf8(data: bytes, *, source: str, encoding: str | None = None) -> bytes:
    """`decode`'s checks and errors, but UTF-8 bytes back (without a BOM): a UTF-8 file is
    returned as read instead of living on as a str next to the frame parsed from it."""
    text = decode(data, source=source, encoding=encoding)
    if encoding is None or codecs.lookup(encoding).name == "utf-8":
        del text  # valid UTF-8: the bytes are the text
        return data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    return text.encode("utf-8")


def _independent_count(
    data: bytes, *, source: str
) -> tuple[list[str] | None, int, list[int], dict[int, int]]:
    """The fast byte scan when the file is plain RFC 4180, else the `csv` module."""
    fast = count_records(data)
    if fast is not None:
        return fast.header, fast.records, fast.blanks, fast.overlong
    return _count_records(data.decode("utf-8"), source=source)


def read_csv_table(text: str, *, source: str) -> CsvTable:
    """Read CSV text as strings with an independent record count; see `read_csv_strings`."""
    text = text.removeprefix("\ufeff")  # in case the caller decoded without `decode`
    return read_csv_table_bytes(text.encode("utf-8"), source=source)


def read_csv_table_bytes(data: bytes, *, source: str) -> CsvTable:
    """`read_csv_table` over UTF-8 bytes without a BOM (see `decode_to_utf8`)."""
    header, records, blanks, overlong = _independent_count(data, source=source)
    if not header:
        if records:
            raise InputError(f"{source}: the first line is blank; it must be the header")
        # empty (or blank) file: no columns, no rows, never an error
        return CsvTable(pl.DataFrame({ROW_NUMBER: pl.Series([], dtype=pl.Int64)}), 0, [])
    seen: set[str] = set()
    for i, name in enumerate(header, start=1):
        if name.strip() == "":
            raise InputError(f"{source}: header column {i} has no name")
        if name in seen:
            raise InputError(f"{source}: header column {i} repeats the name {name!r}")
        seen.add(name)
    try:
        frame = pl.read_csv(
            io.BytesIO(data),
            has_header=True,
            infer_schema=False,
            truncate_ragged_lines=True,
            raise_if_empty=False,
            quote_char='"',
        )
    except pl.exceptions.PolarsError as e:
        raise InputError(f"{source}: malformed CSV: {str(e).splitlines()[0]}") from e
    if frame.width != len(header):
        raise InputError(
            f"{source}: Polars saw {frame.width} columns but the header has {len(header)}"
        )
    expected_height = records + len(blanks)
    if frame.height != expected_height:
        raise InputError(
            f"{source}: the CSV parser returned {frame.height} rows but the file has"
            f" {expected_height} records; refusing to continue with lost rows"
        )
    frame.columns = header  # Polars renames duplicates and keeps the BOM-less text as given
    frame = frame.select(
        pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in header
    )
    if blanks:  # Polars returns a blank line as an all-null row; csv yields [] for it
        frame = (
            frame.with_row_index("__position")
            .filter(pl.col("__position").is_in(blanks).not_())
            .drop("__position")
        )
    frame = frame.with_row_index(ROW_NUMBER, offset=1).with_columns(
        pl.col(ROW_NUMBER).cast(pl.Int64)
    )
    return CsvTable(frame, records, header, overlong)


def read_csv_strings(text: str, *, source: str) -> tuple[pl.DataFrame, int]:
    """CSV text to an all-`Utf8` frame plus an independent count of its data records.

    Empty cells are null; `row_number` is the 1-based data record (header and blank lines
    excluded). A header-only or empty file gives 0 rows. Duplicate/empty header names,
    unbalanced quotes, a row count that disagrees with Python's `csv` module, or a row with more
    fields than the header (Polars would drop the extras) raise `InputError`.
    """
    table = read_csv_table(text, source=source)
    if table.overlong:
        row, n = next(iter(table.overlong.items()))
        raise InputError(
            f"{source}: row {row} has {n} fields but the header has {len(table.header)}"
            f" ({len(table.overlong)} such rows); an unquoted separator?"
        )
    return table.frame, table.records


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Iterative depth check so that a hostile document cannot exhaust the stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_json_strict(text: str, *, source: str, line: int | None = None) -> Any:
    """`json.loads` without its lenient corners: duplicate keys, NaN/Infinity, float rounding
    (numbers become `Decimal`) and unbounded nesting all raise `InputError` naming the place."""
    where = f"{source}, line {line}" if line is not None else source
    try:
        value = json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_float=Decimal,
        )
    except RecursionError as e:
        raise InputError(f"{where}: JSON nested too deeply (limit {MAX_JSON_DEPTH})") from e
    except ValueError as e:  # JSONDecodeError is a ValueError, as are the hooks' errors
        raise InputError(f"{where}: invalid JSON: {e}") from e
    if _depth_exceeds(value, MAX_JSON_DEPTH):
        raise InputError(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value
