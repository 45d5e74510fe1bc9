"""JSON Lines records as the generic reader reads them: each line parsed strictly, each value
as the string a CSV cell would hold (nested values as compact JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

import polars as pl

from catalog_pipelines.connectors.reading import (
    ROW_NUMBER,
    InputError,
    check_columns,
    parse_json_strict,
)
from catalog_pipelines.mapping import Mapping
from catalog_pipelines.normalized import Reject
from catalog_pipelines.text_safety import first_unstorable

MAX_KEYS_CHECK_EVERY = 100  # past this many distinct keys, check the limit on every line


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


def to_text(value: Any, *, is_images: bool) -> str | None:
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
    return records_of(numbered_lines(text, first_line), mapping, source=source)


def numbered_lines(text: str, first_line: int = 1) -> Iterator[tuple[int, str]]:
    """The non-blank lines of JSON Lines `text` (starting at line `first_line`), without a
    trailing carriage return, each with its line number."""
    for number, line in enumerate(text.split("\n"), start=first_line):
        line = line.removesuffix("\r")
        if line.strip():
            yield number, line


def records_of(
    lines: Iterable[tuple[int, str]], mapping: Mapping, *, source: str
) -> tuple[pl.DataFrame, int, list[Reject]]:
    """`jsonl_records` of non-blank numbered lines."""
    images_key = mapping.fields.get("images")
    records: list[dict[str, Any]] = []
    keys: dict[str, None] = {}
    rejects: list[Reject] = []
    count = 0
    for number, line in lines:
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
            k: to_text(v, is_images=k == images_key) for k, v in obj.items()
        }
        keys.update(dict.fromkeys(row))
        if len(keys) > MAX_KEYS_CHECK_EVERY or count % 1000 == 0:
            check_columns(len(keys), source=source, what="distinct keys")
        row[ROW_NUMBER] = number
        records.append(row)
    schema: dict[str, pl.DataType] = {ROW_NUMBER: pl.Int64(), **{k: pl.Utf8() for k in keys}}
    frame = pl.DataFrame(records, schema=schema)
    return frame, count, rejects
