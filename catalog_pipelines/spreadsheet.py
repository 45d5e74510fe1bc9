"""Cells written for spreadsheets: text that Excel or LibreOffice would run as a formula.

`rejects export` gives back values exactly as a merchant's file had them, and a hostile or
broken file may hold `=HYPERLINK(...)` or `=cmd|...`. A cell that begins with `=`, `+`, `-`,
`@`, a tab or a carriage return gets a leading `'`, which spreadsheets read as "this is text"
and do not display (docs/import-failures.md). So `-5` is written `'-5`.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: Any) -> Any:
    """`value`, with a leading `'` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
