"""A JSON Lines re-import that skips unchanged products (fingerprints.py) without mapping or
validating their lines: each line is hashed as it is read, and only the lines of products
that may have changed are parsed strictly, mapped and validated.

A line's print is the hash of its bytes, so a line that differs in any byte (spacing, key
order) is a changed line. Every line is still decoded (orjson, else `json.loads`, in the
read-ahead thread), for two things the batch must report as the whole read does:

- its product's key and parent key, converted as the strict parse converts them (to_text);
  a line the strict parse accepts is one `json.loads` reads the same way (`_decoded`);
- its keys: the file's columns are the keys of every line that is not rejected, in order of
  first appearance.

A line held back as maybe unchanged was parsed and accepted before: its print, or that of its
product's lines in its piece, matched. If its product changed after all (a line of it in
another piece), it is parsed then; should it be refused (a print that collided), the file
takes the path without fingerprints.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from catalog_pipelines.connectors import csv_pieces as piece_reader
from catalog_pipelines.connectors.generic.jsonl_records import (
    numbered_lines,
    records_of,
    to_text,
)
from catalog_pipelines.connectors.generic.kept_rows import KeptRows
from catalog_pipelines.connectors.reading import (
    ROW_NUMBER,
    InputError,
    check_columns,
    decode,
    line_pieces,
)
from catalog_pipelines.fingerprints import Fingerprints, SkipRequest, Unskippable, row_prints
from catalog_pipelines.mapping import Mapping
from catalog_pipelines.normalized import Reject
from catalog_pipelines.piece_prints import PiecePrints, refused_frame
from catalog_pipelines.read_ahead import ReadAhead
from catalog_pipelines.skip_decision import decide, refused_rows

LINE = "\x00line"  # the raw line's column: no JSON key of a record the reader keeps has a NUL

_NUMBERED = {ROW_NUMBER: pl.Int64, LINE: pl.Utf8}
# numbers as the strict parse reads them; one decoder, as json.loads with options makes one a call
_DECODER = json.JSONDecoder(parse_float=Decimal)

# the rows to map, the line count, the rejects, the fingerprints and the file's keys
Kept = tuple[KeptRows, int, list[Reject], Fingerprints, list[str]]


@dataclass
class _Lines:
    """A piece's non-blank lines: `frame` holds (row_number, line, key[, parent key]) for
    `row_prints`, and `keys` each line's keys (None: not a JSON object)."""

    frame: pl.DataFrame
    keys: list[tuple[str, ...] | None]


def keep_changed_lines(path: Path, mapping: Mapping, skip: SkipRequest, source: str) -> Kept:
    """Read a UTF-8 JSON Lines file in pieces, parsing strictly only the lines of the products
    that may not be skipped. Raises Unskippable (or InputError) when the file must be read the
    usual way."""
    key, parent = _key_columns(mapping)
    kept = KeptRows(mapping, ragged=True)
    prints = PiecePrints(skip)
    prints.rules(skip.salt_parts(header=[], mapping=mapping))  # a JSON Lines file has none
    count, rejects, refused = 0, list[Reject](), list[pl.DataFrame]()
    columns: dict[str, None] = {}
    try:
        with ReadAhead(_pieces(path, mapping, source), name="jsonl-ahead") as pieces:
            for lines in pieces:
                rows = row_prints(lines.frame, key, parent)
                maybe = prints.maybe_skipped(rows)
                to_parse = lines.frame.filter(~maybe).select(ROW_NUMBER, LINE)
                parsed, n, bad = records_of(to_parse.iter_rows(), mapping, source=source)
                count, rejects = count + n + int(maybe.sum()), rejects + bad
                numbers = [r.row_number for r in bad]
                if bad:
                    refused.append(refused_rows(lines.frame, numbers, key, parent))
                    rows = rows.filter(~pl.col(ROW_NUMBER).is_in(numbers))
                prints.add(rows)
                _add_keys(columns, lines, set(numbers))
                check_columns(len(columns), source=source, what="distinct keys")
                kept.add(parsed)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from e
    if not kept.parts:
        raise Unskippable("an empty file")
    wanted, fingerprints = prints.decide(refused_frame(refused))
    if kept.keep_only(wanted) != wanted.len():
        del kept  # the rows it holds are read again with the others
        kept = _read_again(path, mapping, wanted, source)
    return kept, count, rejects, fingerprints, list(columns)


def piece_fingerprints(
    text: str, first_line: int, rejects: list[Reject], mapping: Mapping, skip: SkipRequest
) -> Fingerprints:
    """The fingerprints of a piece of a first import read in pieces (first_import.py), taken
    as `keep_changed_lines` takes them; `rejects` are the piece's refused lines."""
    key, parent = _key_columns(mapping)
    lines = _lines(text, first_line, mapping).frame
    numbers = [r.row_number for r in rejects]
    rows = row_prints(lines.filter(~pl.col(ROW_NUMBER).is_in(numbers)), key, parent)
    refused = refused_rows(lines, numbers, key, parent)
    salt_parts = skip.salt_parts(header=[], mapping=mapping)
    return decide(rows, refused, salt_parts=salt_parts, request=skip)[1]


def reported_columns(columns: list[str], mapping: Mapping) -> tuple[list[str], list[str]]:
    """The batch's `columns` and `unmapped_columns` for the file's keys."""
    mapped = set(mapping.source_columns())
    return columns, [c for c in columns if c not in mapped]


def _key_columns(mapping: Mapping) -> tuple[str, str | None]:
    if mapping.key is None or {mapping.key, mapping.parent_key} & {LINE, ROW_NUMBER}:
        raise Unskippable("no key, or a key named as a column of the reader's own")
    return mapping.key, mapping.parent_key


def _pieces(path: Path, mapping: Mapping, source: str) -> Iterator[_Lines]:
    for data, first_line in line_pieces(path, piece_reader.PIECE_BYTES):
        yield _lines(decode(data, source=source), first_line, mapping)


def _lines(text: str, first_line: int, mapping: Mapping) -> _Lines:
    key, parent = _key_columns(mapping)
    images = mapping.fields.get("images")
    numbers: list[int] = []
    lines: list[str] = []
    ids: dict[str, list[str | None]] = {c: [] for c in (key, parent) if c is not None}
    keys: list[tuple[str, ...] | None] = []
    seen: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple per distinct list of keys
    for number, line in numbered_lines(text, first_line):
        numbers.append(number)
        lines.append(line)
        record = _decoded(line, ids)
        if not isinstance(record, dict):
            keys.append(None)
            for values in ids.values():
                values.append(None)
            continue
        names = tuple(record)
        keys.append(seen.setdefault(names, names))
        for column, values in ids.items():
            values.append(to_text(record.get(column), is_images=column == images))
    frame = pl.DataFrame(
        {
            ROW_NUMBER: pl.Series(numbers, dtype=pl.Int64),
            LINE: pl.Series(lines, dtype=pl.Utf8),
            **{c: pl.Series(v, dtype=pl.Utf8) for c, v in ids.items()},
        }
    )
    return _Lines(frame, keys)


def _decoded(line: str, ids: Iterable[str]) -> Any:
    """The line as `json.loads` with Decimal numbers reads it, or None when it does not; as
    the strict parse reads a line it accepts. orjson first, 2.3 times as fast: it reads
    numbers as floats (an integer past 64 bits too) and refuses NaN and lone surrogates, so
    such lines, and a record whose key is not a string, integer or null, go to json."""
    try:
        record = orjson.loads(line)
        if not isinstance(record, dict) or all(isinstance(record.get(c), _EXACT) for c in ids):
            return record
    except orjson.JSONDecodeError:
        pass
    try:
        return _DECODER.decode(line)
    except (ValueError, RecursionError):
        return None  # the strict parse refuses it too


_EXACT = (str, int, type(None))  # values orjson reads as json does (bool is an int)


def _add_keys(columns: dict[str, None], lines: _Lines, rejected: set[int]) -> None:
    """The keys of the piece's lines that are not rejected, in order of first appearance."""
    last: tuple[str, ...] | None = None
    for number, names in zip(lines.frame[ROW_NUMBER], lines.keys, strict=True):
        if number in rejected:
            continue
        if names is None:
            raise Unskippable("a line held back as maybe unchanged is not a JSON object")
        if names is not last:  # most lines have the keys of the line before
            columns.update(dict.fromkeys(names))
            last = names


def _read_again(path: Path, mapping: Mapping, wanted: pl.Series, source: str) -> KeptRows:
    """The lines of every processed product, when some were held back as maybe unchanged."""
    again = KeptRows(mapping, ragged=True)
    numbers = wanted.implode()
    for data, first_line in line_pieces(path, piece_reader.PIECE_BYTES):
        lines = numbered_lines(decode(data, source=source), first_line)
        frame = pl.DataFrame(list(lines), schema=_NUMBERED, orient="row")
        frame = frame.filter(pl.col(ROW_NUMBER).is_in(numbers))
        parsed, _, bad = records_of(frame.iter_rows(), mapping, source=source)
        if bad:
            raise Unskippable("a line held back as maybe unchanged is refused")
        again.add(parsed)
    again.keep_only(wanted)
    return again
