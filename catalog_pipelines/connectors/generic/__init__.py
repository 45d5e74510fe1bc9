"""Generic CSV and JSON Lines connectors, driven by a YAML `Mapping` (docs/mapping.md)."""

from __future__ import annotations

import codecs
import contextlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from catalog_pipelines.connectors import csv_pieces as piece_reader
from catalog_pipelines.connectors.csv_pieces import csv_pieces
from catalog_pipelines.connectors.generic.kept_rows import KeptRows
from catalog_pipelines.connectors.reading import (
    ROW_NUMBER,
    CsvTable,
    InputError,
    check_columns,
    decode,
    decode_to_utf8,
    line_pieces,
    nul_reason,
    parse_json_strict,
    read_csv_table_bytes,
)
from catalog_pipelines.fingerprints import (
    KEY,
    Fingerprints,
    SkipRequest,
    by_range,
    row_prints,
    salt,
)
from catalog_pipelines.mapping import Mapping, apply_mapping
from catalog_pipelines.mapping.chunks import identity_tokens, independent, map_in_chunks
from catalog_pipelines.normalized import ParsedBatch, Reject
from catalog_pipelines.read_ahead import ReadAhead
from catalog_pipelines.skip_decision import (
    NO_VALID_PRINTS,
    decide_by_range,
    maybe_skipped,
    refused_rows,
    split,
    valid_prints,
)
from catalog_pipelines.spill import Held, Spill, hold
from catalog_pipelines.text_safety import first_unstorable

__all__ = ["read_csv", "read_table", "read_jsonl", "jsonl_records", "to_json_text"]

MAX_KEYS_CHECK_EVERY = 100  # past this many distinct keys, check the limit on every line


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from e


def read_csv(
    path: Path, mapping: Mapping, *, encoding: str | None = None, skip: SkipRequest | None = None
) -> ParsedBatch:
    """A CSV file through its mapping (its `delimiter`, `encoding` and separators of prices).
    Rows with more fields than the header are rejected (their extra values would otherwise be
    lost), never the whole file. With `skip`, the products whose rows are those of the
    source's last import are left out before mapping (fingerprints.py). A UTF-8 file is then
    read in pieces, and only the other rows are kept (all of them when the last import left
    no fingerprints that apply), so memory does not grow with the file."""
    source = str(path)
    kept = None
    if _reads_in_pieces(mapping, encoding, skip):
        assert skip is not None
        try:
            kept = _keep_changed_rows(path, mapping, skip, source)
        except InputError:
            kept = None  # read whole below: the same outcome, worded for the whole file
    chunks = skip.chunks if skip is not None else None
    return _mapped(
        kept or _read_whole(path, mapping, encoding, skip, source), mapping, source, chunks
    )


def read_table(
    table: CsvTable, mapping: Mapping, *, skip: SkipRequest | None, source: str
) -> ParsedBatch:
    """One table of CSV records (a whole file, or a piece of one) through its mapping, with
    the fingerprints of its products when `skip` asks for them."""
    return _mapped(_from_table(table, mapping, skip, source), mapping, source)


# the rows to map (a frame, or the rows a reader in pieces kept), the record count, the
# reader's rejects and the fingerprints
_Kept = tuple[pl.DataFrame | KeptRows, int, list[Reject], Fingerprints | None]


def _mapped(
    kept: _Kept,
    mapping: Mapping,
    source: str,
    chunks: Callable[[ParsedBatch], None] | None = None,
) -> ParsedBatch:
    rows, records, rejects, prints = kept
    skipped_rows = prints.skipped_rows if prints is not None else 0
    if isinstance(rows, KeptRows):
        batch = rows.mapped(
            source=source,
            rows_read=records,
            rejects=rejects,
            skipped_rows=skipped_rows,
            each_chunk=chunks,
        )
    else:
        batch = apply_mapping(
            rows,
            mapping,
            source=source,
            rows_read=records,
            rejects=rejects,
            skipped_rows=skipped_rows,
        )
    batch.fingerprints = prints
    return batch


def _read_whole(
    path: Path, mapping: Mapping, encoding: str | None, skip: SkipRequest | None, source: str
) -> _Kept:
    """The file read at once: the frame to map, the record count, the reader's rejects and,
    with `skip`, the fingerprints."""
    data = decode_to_utf8(_read_bytes(path), source=source, encoding=encoding or mapping.encoding)
    table = read_csv_table_bytes(data, source=source, delimiter=mapping.delimiter or ",")
    del data  # the file is as large as the frame: free it before mapping
    return _from_table(table, mapping, skip, source)


def _from_table(table: CsvTable, mapping: Mapping, skip: SkipRequest | None, source: str) -> _Kept:
    _check_reserved(table.header, source)
    frame, rejects = _reader_rejects(table)
    if skip is None or not _keyed(mapping, table.header) or mapping.key is None:
        return frame, table.records, rejects, None
    frame, prints = split(
        table.frame,
        frame,
        mapping.key,
        mapping.parent_key,
        salt_parts=skip.salt_parts(header=table.header, mapping=mapping),
        request=skip,
        rejected_rows={r.row_number for r in rejects},
    )
    return frame, table.records, rejects, prints


def _keyed(mapping: Mapping, header: list[str]) -> bool:
    return mapping.key is not None and all(
        c in header for c in (mapping.key, mapping.parent_key) if c is not None
    )


def _reads_in_pieces(mapping: Mapping, encoding: str | None, skip: SkipRequest | None) -> bool:
    """A re-import that takes fingerprints (its mapping has a key) reads UTF-8 pieces: it
    keeps few rows when it has fingerprints to compare with, and every row with none."""
    if skip is None or mapping.key is None:
        return False
    codec = encoding or mapping.encoding
    return codec is None or codecs.lookup(codec).name == "utf-8"


def _reader_rejects(table: CsvTable) -> tuple[pl.DataFrame, list[Reject]]:
    """The rows of `table` to map, and the rejects of the others: over-long rows and rows
    with a NUL in a cell."""
    frame = table.frame
    rejects: list[Reject] = []
    if table.overlong:
        bad = frame.filter(pl.col(ROW_NUMBER).is_in(list(table.overlong)))
        for row in bad.iter_rows(named=True):
            rn = row.pop(ROW_NUMBER)
            n = table.overlong[rn]
            rejects.append(
                Reject(
                    rn,
                    row,
                    [
                        f"row: has {n} fields but the header has {len(table.header)}"
                        " (an unquoted ',' in a value?); the values shown are the first"
                        f" {len(table.header)}"
                    ],
                )
            )
        frame = frame.filter(pl.col(ROW_NUMBER).is_in(list(table.overlong)).not_())
    nul = {rn: cols for rn, cols in table.unstorable.items() if rn not in table.overlong}
    if nul:
        bad = frame.filter(pl.col(ROW_NUMBER).is_in(list(nul)))
        for row in bad.iter_rows(named=True):
            rn = row.pop(ROW_NUMBER)
            rejects.append(Reject(rn, row, [nul_reason(nul[rn])]))
        frame = frame.filter(pl.col(ROW_NUMBER).is_in(list(nul)).not_())
    return frame, rejects


def _compacted(frame: pl.DataFrame) -> pl.DataFrame:
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    buffer.seek(0)
    return pl.read_ipc(buffer)


# Row prints gathered from the pieces before they are split by key range and spilled (about
# 17 MB): a 10M-row file then makes 20 files a range, not one a piece and range (2,700 of
# them, 4.8 s of a 20 s no-op), and is split 20 times, not once a piece.
SPLIT_ROWS = 500_000


def _keep_changed_rows(
    path: Path, mapping: Mapping, skip: SkipRequest, source: str
) -> _Kept | None:
    """Read the file in pieces, keeping the rows of the products not skipped: the frame to
    map, the record count, the reader's rejects and the fingerprints. None when reading in
    pieces cannot take fingerprints (no key column). Without a snapshot whose rules are
    these, every row is kept. The rows' prints are split by the snapshot's key ranges, and
    spilled to disk when there are several, so the decision holds one range of them at a
    time."""
    assert mapping.key is not None
    key, parent = mapping.key, mapping.parent_key
    delimiter = mapping.delimiter or ","
    salt_parts: dict[str, Any] = {}
    records = 0
    rejects: list[Reject] = []
    ranges = len(skip.known.ranges) if skip.known is not None else 1
    spill = Spill() if ranges > 1 else None
    prints_parts: list[list[Held]] = [[] for _ in range(ranges)]
    gathered: list[pl.DataFrame] = []  # the prints of the pieces since the last split

    def split_gathered() -> None:
        rows = pl.concat(gathered) if len(gathered) > 1 else gathered[0]
        gathered.clear()
        for held, part in zip(prints_parts, by_range(rows, ranges), strict=True):
            held.append(hold(part, spill))

    kept = KeptRows(mapping)
    refused_parts: list[pl.DataFrame] = []
    # The next piece is read and parsed while this one is sorted out; the first, while the
    # snapshot's prints are sorted.
    with ReadAhead(
        csv_pieces(path, source=source, delimiter=delimiter), name="csv-ahead"
    ) as pieces:
        valid = valid_prints(skip.known) if skip.known is not None else NO_VALID_PRINTS
        for table in pieces:
            if not salt_parts:
                _check_reserved(table.header, source)
                salt_parts = skip.salt_parts(header=table.header, mapping=mapping)
                if not _keyed(mapping, table.header):
                    return None
                if skip.known is not None and skip.known.salt != salt(**salt_parts, **skip.rules):
                    valid = NO_VALID_PRINTS  # taken under other rules: nothing to compare
            frame, piece_rejects = _reader_rejects(table)
            if piece_rejects:
                numbers = [r.row_number for r in piece_rejects]
                refused_parts.append(refused_rows(table.frame, numbers, key, parent))
            rejects.extend(piece_rejects)
            rows = row_prints(frame, key, parent)
            gathered.append(rows)
            if sum(g.height for g in gathered) >= SPLIT_ROWS:
                split_gathered()
            piece_kept = frame.filter(~maybe_skipped(rows, valid))
            # A filtered frame still points into the piece's string buffers: copy the few
            # rows kept, or every piece would stay in memory through them.
            small = piece_kept.height < frame.height // 2
            kept.add(_compacted(piece_kept) if small else piece_kept)
            records += table.records
            del table, frame, rows, piece_kept  # the next piece is already being read
    if not salt_parts:
        return None
    if gathered:
        split_gathered()
    refused = (
        pl.concat(refused_parts)
        if refused_parts
        else pl.DataFrame(schema={ROW_NUMBER: pl.Int64, KEY: pl.Utf8})
    )
    del valid  # the decision searches the snapshot itself, a range at a time
    wanted, prints = decide_by_range(
        prints_parts, refused, salt_parts=salt_parts, request=skip, spill=spill
    )
    if kept.keep_only(wanted) == wanted.len():
        return kept, records, rejects, prints
    del kept
    # A product left behind as probably unchanged was not skipped after all: go back for the
    # rows of every product that is processed.
    frame = pl.concat(
        _reader_rejects(table)[0].filter(pl.col(ROW_NUMBER).is_in(wanted.implode()))
        for table in csv_pieces(path, source=source, delimiter=delimiter)
    )
    return frame, records, rejects, prints


def _check_reserved(columns: list[str], source: str) -> None:
    if ROW_NUMBER in columns:
        raise InputError(
            f"{source}: the column name {ROW_NUMBER!r} is reserved for the row number;"
            " rename that column"
        )


def to_json_text(value: Any) -> str:
    """Compact JSON for nested values kept in metadata; Decimals keep their exact digits."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        items = (f"{_json_str(k)}:{to_json_text(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json_text(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _json_str(str(value))


def _json_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _to_text(value: Any, *, is_images: bool) -> str | None:
    """A JSON value as the string a CSV cell would hold."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal):
        return str(value)
    if is_images and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "|".join(value)
    return to_json_text(value)


def jsonl_records(
    text: str, mapping: Mapping, *, source: str, first_line: int = 1
) -> tuple[pl.DataFrame, int, list[Reject]]:
    """JSON Lines to an all-string frame: (frame, non-blank lines, rejects for bad lines).

    `row_number` is the line number in the file (`text` starts at `first_line`), which is what
    a user can find. Lines are split on '\\n' only: JSON strings may contain U+2028, which
    `str.splitlines` would split on.
    """
    images_key = mapping.fields.get("images")
    records: list[dict[str, Any]] = []
    keys: dict[str, None] = {}
    rejects: list[Reject] = []
    count = 0
    for number, line in enumerate(text.split("\n"), start=first_line):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        count += 1
        try:
            obj = parse_json_strict(line, source=source, line=number)
        except InputError as e:
            rejects.append(Reject(number, {"line": line}, [f"json: {e}"]))
            continue
        if not isinstance(obj, dict):
            rejects.append(
                Reject(
                    number,
                    {"line": line},
                    [
                        f"json: {source}, line {number}: expected an object, got {type(obj).__name__}"
                    ],
                )
            )
            continue
        bad = first_unstorable(obj)
        if bad is not None:
            name, why = bad
            rejects.append(Reject(number, {"line": line}, [f"{name}: {why} (line {number})"]))
            continue
        if ROW_NUMBER in obj:
            rejects.append(
                Reject(number, {"line": line}, [f"json: the key {ROW_NUMBER!r} is reserved"])
            )
            continue
        row: dict[str, str | int | None] = {
            k: _to_text(v, is_images=k == images_key) for k, v in obj.items()
        }
        keys.update(dict.fromkeys(row))
        if len(keys) > MAX_KEYS_CHECK_EVERY or count % 1000 == 0:
            check_columns(len(keys), source=source, what="distinct keys")
        row[ROW_NUMBER] = number
        records.append(row)
    schema: dict[str, pl.DataType] = {ROW_NUMBER: pl.Int64(), **{k: pl.Utf8() for k in keys}}
    frame = pl.DataFrame(records, schema=schema)
    return frame, count, rejects


def read_jsonl_piece(
    data: bytes, mapping: Mapping, *, source: str, first_line: int
) -> tuple[ParsedBatch, pl.DataFrame]:
    """Whole lines of a UTF-8 JSON Lines file, from line `first_line`, mapped as `read_jsonl`
    maps the file; with their records as read (first_import.py relates pieces by them)."""
    text = decode(data, source=source)
    frame, count, rejects = jsonl_records(text, mapping, source=source, first_line=first_line)
    mapped = apply_mapping(
        frame, mapping, source=source, rows_read=count, rejects=rejects, require_columns=False
    )
    return mapped, frame


def read_jsonl(
    path: Path,
    mapping: Mapping,
    *,
    encoding: str | None = None,
    each_chunk: Callable[[ParsedBatch], None] | None = None,
) -> ParsedBatch:
    """A JSON Lines file through its mapping: one object per line, blank lines ignored, and a
    malformed line is a reject, never an abort. A UTF-8 file is parsed a piece of lines at a
    time (whole, a million records took 4 GB as text, lines and a dict each), and mapped a
    piece at a time when it can be: then `each_chunk`, if given, gets each piece's batch, and
    the batch returned has no rows (mapping/chunks.py)."""
    source = str(path)
    codec = encoding or mapping.encoding
    if codec is None or codecs.lookup(codec).name == "utf-8":
        pieces = None
        # on an error, read whole: its message names the file's own byte and line
        with contextlib.suppress(InputError):
            pieces = _JsonlPieces.parse(path, mapping, source=source)
        if pieces is not None:
            return pieces.mapped(mapping, source=source, each_chunk=each_chunk)
    text = decode(_read_bytes(path), source=source, encoding=codec)
    frame, count, rejects = jsonl_records(text, mapping, source=source)
    return apply_mapping(
        frame, mapping, source=source, rows_read=count, rejects=rejects, require_columns=False
    )


@dataclass
class _JsonlPieces:
    """A JSON Lines file parsed a piece of lines at a time, each piece's records on disk.
    `apart`: no identifier (key, parent key, SKU) of one piece's records is in another's, and
    every piece has the first piece's keys (a record's keys are its columns, in the order they
    first appear in what is mapped), so the pieces can be mapped apart."""

    held: list[Held]
    apart: bool
    count: int
    rejects: list[Reject]

    @classmethod
    def parse(cls, path: Path, mapping: Mapping, *, source: str) -> _JsonlPieces:
        spill = Spill()
        held: list[Held] = []
        tokens: list[pl.Series] = []
        columns: list[str] | None = None
        same_keys = True
        count, rejects = 0, list[Reject]()
        try:
            for data, first_line in line_pieces(path, piece_reader.PIECE_BYTES):
                text = decode(data, source=source)
                del data
                frame, n, bad = jsonl_records(text, mapping, source=source, first_line=first_line)
                del text
                count, rejects = count + n, rejects + bad
                if frame.height:
                    columns = columns or frame.columns
                    same_keys = same_keys and frame.columns == columns
                    tokens.append(identity_tokens(frame, mapping))
                    held.append(spill.keep(frame))
        except OSError as e:
            raise InputError(f"{path}: cannot read: {e.strerror}") from e
        return cls(held, bool(held) and same_keys and independent(tokens), count, rejects)

    def mapped(
        self, mapping: Mapping, *, source: str, each_chunk: Callable[[ParsedBatch], None] | None
    ) -> ParsedBatch:
        """Mapped apart when they can be, else all at once, put together by name."""
        count, rejects = self.count, self.rejects
        if self.apart:
            return map_in_chunks(
                (h.frame() for h in self.held), mapping, source=source, rows_read=count,
                rejects=rejects, each=each_chunk, require_columns=False,
            )  # fmt: skip
        every = [h.frame() for h in self.held] or [pl.DataFrame(schema={ROW_NUMBER: pl.Int64()})]
        self.held = []
        whole = pl.concat(every, how="diagonal")
        del every
        check_columns(whole.width - 1, source=source, what="distinct keys")
        return apply_mapping(
            whole, mapping, source=source, rows_read=count, rejects=rejects, require_columns=False
        )
