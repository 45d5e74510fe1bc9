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
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from catalog_pipelines.connectors.record_count import count_records
from catalog_pipelines.normalized import ROW_NUMBER, InputError

MAX_JSON_DEPTH = 32
# More columns than this is not a catalog export but a mistake or an attack: a 100,000-column
# header took 1.8 GB to import. Refused before any frame is built (docs/import-failures.md).
DEFAULT_MAX_COLUMNS = 1000
MAX_COLUMNS_ENV = "CATALOG_MAX_COLUMNS"


def max_columns() -> int:
    """The column limit: CATALOG_MAX_COLUMNS, or 1,000."""
    raw = os.environ.get(MAX_COLUMNS_ENV, "")
    try:
        return int(raw) if raw.strip() else DEFAULT_MAX_COLUMNS
    except ValueError as e:
        raise InputError(f"{MAX_COLUMNS_ENV}={raw!r} is not a whole number") from e


def check_columns(count: int, *, source: str, what: str = "columns") -> None:
    """Refuse an input with more columns (or JSON keys) than the limit, naming both."""
    limit = max_columns()
    if count > limit:
        raise InputError(
            f"{source}: {count:,} {what}, more than the limit of {limit:,}; a catalog export"
            f" has far fewer. Raise {MAX_COLUMNS_ENV} if this file is really meant"
        )


_BOMS_NOT_UTF8: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xfe\x00\x00", "UTF-32-LE"),
    (b"\x00\x00\xfe\xff", "UTF-32-BE"),
    (b"\xff\xfe", "UTF-16-LE"),
    (b"\xfe\xff", "UTF-16-BE"),
)


# File signatures of what merchants drop into an inbox by mistake. Checked before decoding, so
# that a workbook or an image is named as such instead of failing as "invalid UTF-8".
_NOT_TEXT_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive, e.g. an .xlsx workbook: export the sheet as CSV"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an .xls workbook: export the sheet as CSV"),
    (b"\x1f\x8b", "a gzip archive: decompress it first"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "an executable"),
)
SNIFF_BYTES = 64 * 1024  # how much of the data the text/binary verdict looks at
# Bytes that no CSV or JSON text holds (C0 controls but tab, newline, form feed, carriage return).
_CONTROL = bytes([*range(0, 9), 11, *range(14, 32), 127])


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _utf16_without_bom(sample: bytes) -> str | None:
    """ "utf-16-le"/"utf-16-be" when the NUL bytes sit on one side of each byte pair, as in
    UTF-16 text of mostly ASCII characters (commas, digits, newlines); else None. In binary
    data NULs fall on both sides."""
    sample = sample[: len(sample) - len(sample) % 2]
    pairs = len(sample) // 2
    if pairs == 0:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd >= pairs / 10 and even <= odd / 50:
        return "utf-16-le"
    if even >= pairs / 10 and odd <= even / 50:
        return "utf-16-be"
    return None


def not_text_reason(data: bytes, *, encoding: str | None = None) -> str | None:
    """Why `data` is not a text file (an image, an archive, NUL or control bytes), or None.

    Text in UTF-16/32 (with a byte order mark, or BOM-less UTF-16 of mostly ASCII) counts as
    text: `decode` then asks for `--encoding`. With an explicit `encoding`, NUL bytes are the
    codec's business (UTF-16 has them), but known binary signatures are still refused.
    """
    if data.startswith(tuple(bom for bom, _ in _BOMS_NOT_UTF8)):
        return None
    for signature, what in _NOT_TEXT_SIGNATURES:
        if data.startswith(signature):
            return what
    if encoding is not None:
        return None
    sample = data[:SNIFF_BYTES]
    # A few stray NULs in text are bad cells (rejected per row, the rest imports); many, and
    # not in UTF-16's pattern, are binary data.
    nuls = sample.count(0)
    if nuls > max(8, len(sample) // 100) and _utf16_without_bom(sample) is None:
        offset = data.index(b"\x00")
        return f"NUL byte at byte {offset}, line {_line_of(data, offset)}"
    if b"\x00" not in sample:
        controls = sum(sample.count(c) for c in _CONTROL)
        if controls > max(8, len(sample) // 20):
            return f"{controls} control bytes in its first {len(sample)} bytes"
    return None


def check_text(data: bytes, *, source: str, encoding: str | None = None) -> None:
    """Raise `InputError` "SOURCE: not a text file (...)" for binary data."""
    reason = not_text_reason(data, encoding=encoding)
    if reason is not None:
        raise _not_text(source, reason)


def _not_text(source: str, reason: str) -> InputError:
    return InputError(
        f"{source}: not a text file ({reason}); catalog-sync reads CSV and JSON Lines exports"
    )


def _looks_like_utf16(data: bytes, sample: int = 64 * 1024) -> bool:
    """UTF-16 text without a BOM has a NUL in every other byte of its ASCII characters. A few
    stray NULs in UTF-8 text are a different problem: those cells are rejected per row."""
    head = data[:sample]
    return b"\x00" in head and head.count(b"\x00") * 8 >= len(head)


def decode(data: bytes, *, source: str, encoding: str | None = None) -> str:
    """Bytes to text, never lossily.

    Without `encoding`: UTF-8 with or without a BOM (the BOM is stripped so it does not stick to
    the first header). UTF-16/32 and invalid UTF-8 raise `InputError` telling the user which
    byte/line failed and to pass `--encoding`. With `encoding`: that codec, errors='strict'.
    Binary data (an image, an archive, NUL bytes that are not UTF-16) is "not a text file".
    """
    check_text(data, source=source, encoding=encoding)
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
    _check_utf8(data, source=source)
    return data.decode("utf-8").removeprefix("\ufeff")


def _check_utf8(data: bytes, *, source: str) -> None:
    """Refuse what is not UTF-8 text, naming the byte and line (see `decode`)."""
    for bom, name in _BOMS_NOT_UTF8:
        if data.startswith(bom):
            raise InputError(
                f"{source}: the file starts with a {name} byte order mark, not UTF-8;"
                f" pass --encoding {name.lower().replace('-le', '').replace('-be', '')}"
                " or save it as UTF-8"
            )
    if _looks_like_utf16(data):
        offset = data.index(b"\x00")
        codec = _utf16_without_bom(data[:SNIFF_BYTES])
        if codec is None:  # a NUL past the sniffed start, in text that is not UTF-16
            raise _not_text(source, f"NUL byte at byte {offset}, line {_line_of(data, offset)}")
        other = "utf-16-be" if codec == "utf-16-le" else "utf-16-le"
        raise InputError(
            f"{source}: NUL byte at byte {offset} (line {_line_of(data, offset)}); the file looks"
            f" like UTF-16 without a byte order mark: pass --encoding {codec} (or {other})"
        )
    bad = _first_invalid_utf8(data)
    if bad is not None:
        start, end = bad
        raise InputError(
            f"{source}: not valid UTF-8 at byte {start} (line {_line_of(data, start)}):"
            f" {data[start:end]!r}. If Excel or Windows wrote it, pass --encoding cp1252"
            " (or the file's real encoding)"
        )


_UTF8_STEP = 1 << 24  # bytes decoded at a time: the text of a whole file never exists at once


def _first_invalid_utf8(data: bytes) -> tuple[int, int] | None:
    """(start, end) of the first byte sequence that is not UTF-8, or None."""
    start, n = 0, len(data)
    while start < n:
        end = min(start + _UTF8_STEP, n)
        for _ in range(3):  # do not cut a character in two (a longer run is invalid anyway)
            if end < n and (data[end] & 0xC0) == 0x80:
                end -= 1
        try:
            data[start:end].decode("utf-8", errors="strict")
        except UnicodeDecodeError as e:
            return start + e.start, start + e.end
        start = end
    return None


@dataclass
class CsvTable:
    """A CSV read as strings, with what the independent `csv` pass found."""

    frame: pl.DataFrame  # every column Utf8 (empty -> null) plus `row_number` (Int64, 1-based)
    records: int  # data records counted by Python's csv module (blank lines excluded)
    header: list[str]
    # row_number -> number of fields, for rows with more fields than the header. Polars keeps only
    # the first len(header) of them, so the caller must reject these rows (or fail).
    overlong: dict[int, int] = field(default_factory=dict)
    # row_number -> columns whose cell holds a NUL, which PostgreSQL text cannot store: the
    # caller rejects these rows (text_safety.py).
    unstorable: dict[int, list[str]] = field(default_factory=dict)


def _raise_field_limit() -> None:
    """Descriptions with inline HTML exceed csv's default 128 KiB field limit."""
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 10


def _count_records(
    text: str, *, source: str, delimiter: str = ","
) -> tuple[list[str] | None, int, list[int], dict]:
    """Independent pass with the csv module: header, data records, blank-record positions."""
    _raise_field_limit()
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, delimiter=delimiter)
    header: list[str] | None = None
    blanks: list[int] = []  # 0-based positions among data records (as Polars sees them)
    overlong: dict[int, int] = {}
    position = -1
    count = 0
    try:
        for record in reader:
            if header is None:
                header = record
                check_columns(len(header), source=source)  # before anything is built
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
    if encoding is None:
        check_text(data, source=source)
        _check_utf8(data, source=source)  # a slice at a time: no str as large as the file
        return data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    text = decode(data, source=source, encoding=encoding)
    if codecs.lookup(encoding).name == "utf-8":
        del text  # valid UTF-8: the bytes are the text
        return data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    return text.encode("utf-8")


def _independent_count(
    data: bytes, *, source: str, delimiter: str
) -> tuple[list[str] | None, int, list[int], dict[int, int]]:
    """The fast byte scan when the file is plain comma-separated RFC 4180, else the `csv`
    module (which also knows other delimiters)."""
    fast = count_records(data) if delimiter == "," else None
    if fast is not None:
        if fast.header:
            check_columns(len(fast.header), source=source)  # before any frame is built
        return fast.header, fast.records, fast.blanks, fast.overlong
    return _count_records(data.decode("utf-8"), source=source, delimiter=delimiter)


def read_csv_table(text: str, *, source: str, delimiter: str = ",") -> CsvTable:
    """Read CSV text as strings with an independent record count; see `read_csv_strings`.
    `delimiter` separates the fields (`;` in many European spreadsheet exports)."""
    text = text.removeprefix("\ufeff")  # in case the caller decoded without `decode`
    return read_csv_table_bytes(text.encode("utf-8"), source=source, delimiter=delimiter)


def read_csv_table_bytes(data: bytes, *, source: str, delimiter: str = ",") -> CsvTable:
    """`read_csv_table` over UTF-8 bytes without a BOM (see `decode_to_utf8`)."""
    header, records, blanks, overlong = _independent_count(data, source=source, delimiter=delimiter)
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
            separator=delimiter,
            # an empty cell, quoted or not, is missing; done by the parser, so the frame is
            # not copied once more to say so
            null_values=[""],
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
    if blanks:  # Polars returns a blank line as an all-null row; csv yields [] for it
        frame = (
            frame.with_row_index("__position")
            .filter(pl.col("__position").is_in(blanks).not_())
            .drop("__position")
        )
    frame = frame.with_row_index(ROW_NUMBER, offset=1).with_columns(
        pl.col(ROW_NUMBER).cast(pl.Int64)
    )
    return CsvTable(frame, records, header, overlong, _nul_cells(frame, header, data, source))


def _nul_cells(
    frame: pl.DataFrame, header: list[str], data: bytes, source: str
) -> dict[int, list[str]]:
    """row_number -> the columns whose cell holds a NUL (only looked for when there is one)."""
    if b"\x00" not in data:
        return {}
    for i, name in enumerate(header, start=1):
        if "\x00" in name:
            raise InputError(f"{source}: header column {i} ({name!r}) contains a NUL character")
    hits = frame.select(
        ROW_NUMBER,
        *(pl.col(c).str.contains("\x00", literal=True).fill_null(False).alias(c) for c in header),
    ).filter(pl.any_horizontal(pl.exclude(ROW_NUMBER)))
    return {row[ROW_NUMBER]: [c for c in header if row[c]] for row in hits.iter_rows(named=True)}


def nul_reason(columns: list[str]) -> str:
    """The reason a row with NUL cells is rejected, naming the columns."""
    names = ", ".join(repr(c) for c in columns)
    return (
        f"{names}: contains a NUL character (U+0000), which the catalog cannot store;"
        " remove it from the cell"
    )


def read_csv_strings(text: str, *, source: str) -> tuple[pl.DataFrame, int]:
    """CSV text to an all-`Utf8` frame plus an independent count of its data records.

    Empty cells are null; `row_number` is the 1-based data record (header and blank lines
    excluded). A header-only or empty file gives 0 rows. Duplicate/empty header names,
    unbalanced quotes, a row count that disagrees with Python's `csv` module, or a row with more
    fields than the header (Polars would drop the extras) raise `InputError`.
    """
    table = read_csv_table(text, source=source)
    refuse_overlong(table, source=source)
    return table.frame, table.records


def refuse_overlong(table: CsvTable, *, source: str) -> None:
    """Polars drops the fields past the header's, so a row that has some refuses the file."""
    if table.overlong:
        row, n = next(iter(table.overlong.items()))
        raise InputError(
            f"{source}: row {row} has {n} fields but the header has {len(table.header)}"
            f" ({len(table.overlong)} such rows); an unquoted separator?"
        )


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


def line_pieces(path: Path, piece_bytes: int) -> Iterator[tuple[bytes, int]]:
    """The file in pieces of whole lines, read `piece_bytes` at a time, each with the number of
    its first line. Only for encodings in which the byte b"\\n" is always a newline (UTF-8)."""
    line, rest = 1, b""
    with path.open("rb") as f:
        while chunk := f.read(piece_bytes):
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest = data
                continue
            piece, rest = data[:cut], data[cut:]
            yield piece, line
            line += piece.count(b"\n")
    if rest:
        yield rest, line
