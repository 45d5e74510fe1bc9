"""A UTF-8 CSV file read in pieces of whole records, so a reader that keeps few of its rows
(a re-import that skips unchanged products) never holds the file or its frame.

Each piece is read exactly as a whole file is (`read_csv_table_bytes`: the independent record
count, the strict parse and its checks), with the file's header line put in front of it; row
numbers, over-long rows and NUL cells are then renumbered to the whole file. A piece ends
after a line feed outside quotes. A file whose quotes are malformed may be cut at the wrong
place, but its piece is then malformed too and raises, like the whole file would; a caller
that wants the whole file's exact error message reads it whole on `InputError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl

from catalog_pipelines import allocator
from catalog_pipelines.connectors.reading import CsvTable, decode_to_utf8, read_csv_table_bytes
from catalog_pipelines.normalized import ROW_NUMBER, InputError

PIECE_BYTES = 16 << 20  # ~35,000 rows of a wide export; 8-16 MiB parsed fastest here
_QUOTE, _LF = ord('"'), ord("\n")


def record_ends(data: bytes | memoryview, quotes_before: int = 0) -> np.ndarray:
    """Offsets of the line feeds outside quotes in `data`, after `quotes_before` quotes (an
    even number: `data` starts outside quotes)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    lf = np.flatnonzero(arr == _LF)
    quotes = np.flatnonzero(arr == _QUOTE)
    if quotes.size:
        lf = lf[((quotes_before + np.searchsorted(quotes, lf)) & 1) == 0]
    return lf


_TAIL = 1 << 16  # where the last record end of a piece is looked for first


def last_record_end(data: bytes) -> int | None:
    """The offset of the last line feed outside quotes in `data` (which starts at a record's
    start), or None. Looks in the last 64 KiB first: the quotes before it are only counted."""
    start = max(0, len(data) - _TAIL)
    while True:
        before = np.count_nonzero(np.frombuffer(data, dtype=np.uint8, count=start) == _QUOTE)
        ends = record_ends(memoryview(data)[start:], int(before))
        if ends.size:
            return start + int(ends[-1])
        if start == 0:
            return None
        start = max(0, start - 8 * _TAIL)


def _read_next_meanwhile(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to read the next piece while this one is parsed: with the page cache
    cold, reading then parsing each piece in turn took a 10M-row no-op's read from 24 s to 31 s."""
    if hasattr(os, "posix_fadvise"):  # not on macOS or Windows
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_WILLNEED)


def _renumbered(table: CsvTable, before: int) -> CsvTable:
    if not before:
        return table
    return replace(
        table,
        frame=table.frame.with_columns(pl.col(ROW_NUMBER) + before),
        overlong={n + before: v for n, v in table.overlong.items()},
        unstorable={n + before: v for n, v in table.unstorable.items()},
    )


def csv_pieces(
    path: Path, *, source: str, delimiter: str = ",", piece_bytes: int | None = None
) -> Iterator[CsvTable]:
    """The UTF-8 CSV file at `path` as tables of whole records, numbered as in the file.
    Raises `InputError` as reading the file whole would (possibly worded for the piece)."""
    allocator.tune()  # each piece's buffers reused, not faulted in again
    piece_bytes = piece_bytes or PIECE_BYTES
    header = b""
    before = 0  # data records in the pieces already read
    carry = b""
    first = True
    try:
        f = path.open("rb")
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from e
    with f:
        while True:
            block = f.read(piece_bytes)
            _read_next_meanwhile(f.fileno(), f.tell(), piece_bytes)
            data = carry + block
            if block:
                end = last_record_end(data)
                if end is None:  # one record longer than a piece: read on
                    carry = data
                    continue
                data, carry = data[: end + 1], data[end + 1 :]
            if first:
                data = decode_to_utf8(data, source=source)  # the text checks; drops a BOM
                header_end = record_ends(data[:_TAIL])
                if not header_end.size:
                    header_end = record_ends(data)
                header = data[: int(header_end[0]) + 1] if header_end.size else data
                table = read_csv_table_bytes(data, source=source, delimiter=delimiter)
                first = False
            elif data:
                decode_to_utf8(data, source=source)
                table = read_csv_table_bytes(header + data, source=source, delimiter=delimiter)
            else:
                return
            yield _renumbered(table, before)
            before += table.records
            if not block:
                return
