"""The CSV of a run's rejected rows (`catalog-sync rejects export` and
`GET /v1/import_runs/{id}/rejects.csv`): row number, field(s), reasons, then the raw columns.

Every cell is formula-safe (catalog_pipelines/spreadsheet.py): rejected rows are untrusted input
by definition, and merchants open this file in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO

from catalog_pipelines.spreadsheet import escape_formula

HEADER = ("row_number", "fields", "reasons")


def reason_fields(reasons: Sequence[str]) -> list[str]:
    """The fields the reasons name (each reason reads `field: why`), in order, once each."""
    out: list[str] = []
    for reason in reasons:
        name, sep, _ = reason.partition(": ")
        if sep and name not in out and " " not in name:
            out.append(name)
    return out


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False)
    return escape_formula(value)


def rows(rejects: Sequence[Any]) -> Iterator[list[Any]]:
    """Header, then one row per reject (objects with row_number, raw and reasons)."""
    columns: list[str] = []
    for r in rejects:
        columns += [k for k in r.raw if k not in columns]
    yield [escape_formula(c) for c in (*HEADER, *columns)]
    for r in rejects:
        yield [
            r.row_number,
            _cell("; ".join(reason_fields(r.reasons))),
            _cell("; ".join(r.reasons)),
            *[_cell(r.raw.get(c)) for c in columns],
        ]


def write(out: TextIO, rejects: Sequence[Any]) -> None:
    csv.writer(out).writerows(rows(rejects))


def to_text(rejects: Iterable[Any]) -> str:
    buf = io.StringIO()
    write(buf, list(rejects))
    return buf.getvalue()
