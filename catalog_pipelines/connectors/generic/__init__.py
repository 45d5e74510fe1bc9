"""Generic CSV and JSON Lines connectors, driven by a YAML `Mapping` (docs/mapping.md)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from catalog_pipelines.connectors.reading import (
    ROW_NUMBER,
    InputError,
    check_columns,
    decode,
    decode_to_utf8,
    nul_reason,
    parse_json_strict,
    read_csv_table_bytes,
)
from catalog_pipelines.fingerprints import SkipRequest, split
from catalog_pipelines.mapping import Mapping, apply_mapping
from catalog_pipelines.normalized import ParsedBatch, Reject
from catalog_pipelines.text_safety import first_unstorable

__all__ = ["read_csv", "read_jsonl", "jsonl_records", "to_json_text"]

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
    source's last import are left out before mapping (fingerprints.py)."""
    source = str(path)
    data = decode_to_utf8(_read_bytes(path), source=source, encoding=encoding or mapping.encoding)
    table = read_csv_table_bytes(data, source=source, delimiter=mapping.delimiter or ",")
    del data  # the file is as large as the frame: free it before mapping
    _check_reserved(table.header, source)
    frame = all_rows = table.frame
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
    keyed = mapping.key is not None and all(
        c in table.header for c in (mapping.key, mapping.parent_key) if c is not None
    )
    if skip is None or not keyed or mapping.key is None:
        return apply_mapping(
            frame, mapping, source=source, rows_read=table.records, rejects=rejects
        )
    frame, prints = split(
        all_rows,
        frame,
        mapping.key,
        mapping.parent_key,
        salt_parts=skip.salt_parts(header=table.header, mapping=mapping),
        request=skip,
        rejected_rows={r.row_number for r in rejects},
    )
    batch = apply_mapping(
        frame,
        mapping,
        source=source,
        rows_read=table.records,
        rejects=rejects,
        skipped_rows=prints.skipped_rows,
    )
    batch.fingerprints = prints
    return batch


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
    text: str, mapping: Mapping, *, source: str
) -> tuple[pl.DataFrame, int, list[Reject]]:
    """JSON Lines to an all-string frame: (frame, non-blank lines, rejects for bad lines).

    `row_number` is the line number in the file, which is what a user can find. Lines are split
    on '\\n' only: JSON strings may contain U+2028, which `str.splitlines` would split on.
    """
    images_key = mapping.fields.get("images")
    records: list[dict[str, Any]] = []
    keys: dict[str, None] = {}
    rejects: list[Reject] = []
    count = 0
    for number, line in enumerate(text.split("\n"), start=1):
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


def read_jsonl(path: Path, mapping: Mapping, *, encoding: str | None = None) -> ParsedBatch:
    """A JSON Lines file through its mapping: one object per line, blank lines ignored, and a
    malformed line is a reject, never an abort."""
    source = str(path)
    text = decode(_read_bytes(path), source=source, encoding=encoding or mapping.encoding)
    frame, count, rejects = jsonl_records(text, mapping, source=source)
    return apply_mapping(
        frame, mapping, source=source, rows_read=count, rejects=rejects, require_columns=False
    )
