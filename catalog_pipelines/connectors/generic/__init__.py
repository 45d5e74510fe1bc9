"""Generic CSV and JSON Lines connectors, driven by a YAML `Mapping` (docs/mapping.md)."""

from __future__ import annotations

import codecs
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from catalog_pipelines.connectors import csv_pieces as piece_reader
from catalog_pipelines.connectors.csv_pieces import csv_pieces
from catalog_pipelines.connectors.generic.jsonl_records import jsonl_records, to_json_text
from catalog_pipelines.connectors.generic.jsonl_skip import (
    keep_changed_lines,
    piece_fingerprints,
    reported_columns,
)
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
    read_csv_table_bytes,
)
from catalog_pipelines.fingerprints import Fingerprints, SkipRequest, Unskippable, row_prints
from catalog_pipelines.frames import compacted
from catalog_pipelines.mapping import Mapping, apply_mapping
from catalog_pipelines.mapping.chunks import identity_tokens, independent, map_in_chunks
from catalog_pipelines.normalized import ParsedBatch, Reject
from catalog_pipelines.piece_prints import PiecePrints, refused_frame
from catalog_pipelines.read_ahead import ReadAhead
from catalog_pipelines.skip_decision import refused_rows, split
from catalog_pipelines.spill import Held, Spill

log = logging.getLogger(__name__)

__all__ = [
    "read_csv",
    "read_table",
    "read_jsonl",
    "read_jsonl_piece",
    "jsonl_records",
    "to_json_text",
    "Unskippable",
]


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


def _keep_changed_rows(
    path: Path, mapping: Mapping, skip: SkipRequest, source: str
) -> _Kept | None:
    """Read the file in pieces, keeping the rows of the products not skipped: the frame to
    map, the record count, the reader's rejects and the fingerprints. None when reading in
    pieces cannot take fingerprints (no key column). Without a snapshot whose rules are
    these, every row is kept (piece_prints.py)."""
    assert mapping.key is not None
    key, parent = mapping.key, mapping.parent_key
    delimiter = mapping.delimiter or ","
    records = 0
    rejects: list[Reject] = []
    kept = KeptRows(mapping)
    refused_parts: list[pl.DataFrame] = []
    # The next piece is read and parsed while this one is sorted out; the first, while the
    # snapshot's prints are sorted.
    with ReadAhead(
        csv_pieces(path, source=source, delimiter=delimiter), name="csv-ahead"
    ) as pieces:
        prints = PiecePrints(skip)
        for table in pieces:
            if not prints.salt_parts:
                _check_reserved(table.header, source)
                if not _keyed(mapping, table.header):
                    return None
                prints.rules(skip.salt_parts(header=table.header, mapping=mapping))
            frame, piece_rejects = _reader_rejects(table)
            if piece_rejects:
                numbers = [r.row_number for r in piece_rejects]
                refused_parts.append(refused_rows(table.frame, numbers, key, parent))
            rejects.extend(piece_rejects)
            rows = row_prints(frame, key, parent)
            prints.add(rows)
            piece_kept = frame.filter(~prints.maybe_skipped(rows))
            # A filtered frame still points into the piece's string buffers: copy the few
            # rows kept, or every piece would stay in memory through them.
            small = piece_kept.height < frame.height // 2
            kept.add(compacted(piece_kept) if small else piece_kept)
            records += table.records
            del table, frame, rows, piece_kept  # the next piece is already being read
    if not prints.salt_parts:
        return None
    wanted, fingerprints = prints.decide(refused_frame(refused_parts))
    if kept.keep_only(wanted) == wanted.len():
        return kept, records, rejects, fingerprints
    del kept
    # A product left behind as probably unchanged was not skipped after all: go back for the
    # rows of every product that is processed.
    frame = pl.concat(
        _reader_rejects(table)[0].filter(pl.col(ROW_NUMBER).is_in(wanted.implode()))
        for table in csv_pieces(path, source=source, delimiter=delimiter)
    )
    return frame, records, rejects, fingerprints


def _check_reserved(columns: list[str], source: str) -> None:
    if ROW_NUMBER in columns:
        raise InputError(
            f"{source}: the column name {ROW_NUMBER!r} is reserved for the row number;"
            " rename that column"
        )


def read_jsonl_piece(
    data: bytes,
    mapping: Mapping,
    *,
    source: str,
    first_line: int,
    skip: SkipRequest | None = None,
) -> tuple[ParsedBatch, pl.DataFrame]:
    """Whole lines of a UTF-8 JSON Lines file, from line `first_line`, mapped as `read_jsonl`
    maps the file; with their records as read (first_import.py relates pieces by them). With
    `skip`, the batch has the piece's fingerprints (Unskippable when it cannot)."""
    text = decode(data, source=source)
    frame, count, rejects = jsonl_records(text, mapping, source=source, first_line=first_line)
    mapped = apply_mapping(
        frame, mapping, source=source, rows_read=count, rejects=rejects, require_columns=False
    )
    if skip is not None:
        mapped.fingerprints = piece_fingerprints(text, first_line, rejects, mapping, skip)
    return mapped, frame


def read_jsonl(
    path: Path,
    mapping: Mapping,
    *,
    encoding: str | None = None,
    each_chunk: Callable[[ParsedBatch], None] | None = None,
    skip: SkipRequest | None = None,
) -> ParsedBatch:
    """A JSON Lines file through its mapping: one object per line, blank lines ignored, and a
    malformed line is a reject, never an abort. A UTF-8 file is parsed a piece of lines at a
    time (whole, a million records took 4 GB as text, lines and a dict each), and mapped a
    piece at a time when it can be: then `each_chunk`, if given, gets each piece's batch, and
    the batch returned has no rows (mapping/chunks.py). With `skip` and a key, the lines of
    the products the source's last import left unchanged are not even parsed
    (jsonl_skip.py)."""
    source = str(path)
    codec = encoding or mapping.encoding
    if codec is None or codecs.lookup(codec).name == "utf-8":
        if skip is not None and mapping.key is not None:
            try:
                return _skipping(path, mapping, skip, source, skip.chunks or each_chunk)
            except Unskippable as e:
                log.info("%s: read without fingerprints, skipping nothing: %s", source, e)
            except InputError:
                pass  # read below: the error is worded for the whole file there
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


def _skipping(
    path: Path,
    mapping: Mapping,
    skip: SkipRequest,
    source: str,
    each_chunk: Callable[[ParsedBatch], None] | None,
) -> ParsedBatch:
    kept, count, rejects, prints, columns = keep_changed_lines(path, mapping, skip, source)
    batch = kept.mapped(
        source=source,
        rows_read=count,
        rejects=rejects,
        skipped_rows=prints.skipped_rows,
        each_chunk=each_chunk,
    )
    batch.columns, batch.unmapped_columns = reported_columns(columns, mapping)
    batch.fingerprints = prints
    return batch


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
