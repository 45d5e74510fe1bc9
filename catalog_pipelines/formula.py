"""Spreadsheet formula injection: a CSV cell that a spreadsheet would run as a formula.

Excel, LibreOffice and Google Sheets evaluate a cell that begins with `=`, `+`, `-` or `@`
(and, after trimming, one that begins with a tab or carriage return), so a product named
`=HYPERLINK(...)` in a rejects export would run when a merchant opens it. OWASP's advice is
to prefix such a cell with a single quote, which every spreadsheet shows as text.
"""

from __future__ import annotations

from typing import Any

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(cell: Any) -> Any:
    """The cell, prefixed with `'` when it is text that a spreadsheet would evaluate."""
    if isinstance(cell, str) and cell.startswith(_TRIGGERS):
        return "'" + cell
    return cell
