"""A file's dialect and first rows, for the mapping assistant (`mapping.suggest`).

Only the head of the file is read. The dialect is decided here, never guessed later:
- encoding: UTF-8 (with or without BOM); a UTF-16 BOM; otherwise Windows-1252, which is what
  Excel writes for Western European languages;
- delimiter: the one of `,` `;` tab `|` that splits the header and the sampled records into
  the same number of fields (most fields wins);
- format: the connectors' own detection (`detect.detect_format`), plus Magento's header.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Mapping as Map
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog_pipelines.connectors.detect import detect_format
from catalog_pipelines.connectors.reading import InputError, parse_json_strict
from catalog_pipelines.connectors.shopify_csv import settings as shopify
from catalog_pipelines.connectors.woocommerce_csv import settings as woocommerce
from catalog_pipelines.mapping.suggest import Dialect, History, Suggestion, suggest

HEAD_BYTES = 1024 * 1024
SAMPLE_ROWS = 500
DELIMITERS = (",", ";", "\t", "|")
# Magento 2's catalog_product export (Magento's own connector reads it)
MAGENTO_REQUIRED = frozenset({"sku", "product_type", "attribute_set_code"})
MAGENTO_ANY = frozenset({"store_view_code", "configurable_variations", "additional_attributes"})


@dataclass
class FileSample:
    format: str
    dialect: Dialect
    columns: list[str]
    rows: list[dict[str, Any]]


def format_from_header(columns: list[str] | set[str]) -> str:
    """shopify, woocommerce or magento by their headers (as `detect_format` does), else csv."""
    names = {c.strip().removeprefix("\ufeff") for c in columns}
    if names >= shopify.DETECT_REQUIRED and names & shopify.DETECT_ANY:
        return "shopify"
    if names >= woocommerce.DETECT_REQUIRED and names & woocommerce.DETECT_ANY:
        return "woocommerce"
    if names >= MAGENTO_REQUIRED and names & MAGENTO_ANY:
        return "magento"
    return "csv"


def _decode_head(head: bytes, complete: bool, source: str) -> tuple[str, str]:
    """(text, encoding name) of the file's head."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        body = head[: len(head) - len(head) % 2]
        return body.decode("utf-16", errors="ignore").removeprefix("\ufeff"), "utf-16"
    if b"\x00" in head:
        raise InputError(f"{source}: looks like UTF-16 without a byte order mark; save as UTF-8")
    bom = head.startswith(codecs.BOM_UTF8)
    body = head[len(codecs.BOM_UTF8) :] if bom else head
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as e:
        if not complete and e.start >= len(body) - 3:  # a character cut at the end of the head
            return body[: e.start].decode("utf-8", errors="replace"), "utf-8"
        if bom:
            raise InputError(
                f"{source}: starts with a UTF-8 byte order mark but is not UTF-8 at byte"
                f" {e.start + 3}"
            ) from e
        return body.decode("cp1252", errors="replace"), "cp1252"


def _records(text: str, delimiter: str, limit: int) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out: list[list[str]] = []
    try:
        for record in reader:
            if record:
                out.append(record)
            if len(out) > limit:
                break
    except csv.Error:
        return out
    return out


def _delimiter(text: str) -> str:
    best, best_width = ",", 1
    for d in DELIMITERS:
        records = _records(text, d, 20)
        if not records:
            continue
        width = len(records[0])
        # the last sampled record may be cut by the head's end
        if width > best_width and all(len(r) == width for r in records[1:-1] or records[:1]):
            best, best_width = d, width
    return best


def sample_file(path: Path) -> FileSample:
    """The dialect, format, header and first rows of a CSV or JSON Lines file."""
    try:
        with path.open("rb") as f:
            head = f.read(HEAD_BYTES + 1)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from e
    complete = len(head) <= HEAD_BYTES
    head = head[:HEAD_BYTES]
    text, encoding = _decode_head(head, complete, str(path))
    fmt = detect_format(path)
    if fmt == "jsonl":
        return _sample_jsonl(path, text, encoding, complete)
    delimiter = _delimiter(text)
    records = _records(text, delimiter, SAMPLE_ROWS + 1)
    if not records:
        raise InputError(f"{path}: the file is empty; there is nothing to map")
    header = [h.strip() for h in records[0]]
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:  # the import would refuse the file too (connectors.reading)
        raise InputError(f"{path}: the header repeats the column name(s) {repeated}")
    body = records[1:] if complete else records[1:-1]  # the head may end mid-record
    rows = [dict(zip(header, r, strict=False)) for r in body[:SAMPLE_ROWS]]
    if fmt == "csv":
        fmt = format_from_header(header)
    return FileSample(fmt, Dialect(delimiter, encoding), header, rows)


def _sample_jsonl(path: Path, text: str, encoding: str, complete: bool) -> FileSample:
    from catalog_pipelines.connectors.generic.jsonl_records import to_json_text

    lines = [line for line in text.split("\n") if line.strip()]
    if not complete:
        lines = lines[:-1]
    columns: dict[str, None] = {}
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines[:SAMPLE_ROWS], start=1):
        try:
            obj = parse_json_strict(line, source=str(path), line=number)
        except InputError:
            continue
        if isinstance(obj, dict):
            row = {
                k: v if isinstance(v, str) or v is None else to_json_text(v) for k, v in obj.items()
            }
            columns.update(dict.fromkeys(row))
            rows.append(row)
    if not columns:
        raise InputError(f"{path}: no JSON object in the first lines; there is nothing to map")
    return FileSample("jsonl", Dialect(None, encoding), list(columns), rows)


def suggest_for_file(path: Path, *, history: History | None = None) -> Suggestion:
    """The mapping assistant on a file (the CLI's `mapping suggest`)."""
    sample = sample_file(path)
    return suggest(
        sample.columns, sample.rows, format=sample.format, dialect=sample.dialect, history=history
    )


def suggest_for_rows(
    columns: list[str], rows: Sequence[Map[str, Any]], *, history: History | None = None
) -> Suggestion:
    """The mapping assistant on a header and sample rows (the API's columns + rows)."""
    return suggest(
        columns,
        rows,
        format=format_from_header(columns),
        dialect=Dialect(None, None),
        history=history,
    )
