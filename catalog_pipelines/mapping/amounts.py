"""Prices written the European way: a mapping's `decimal_separator` and `thousands_separator`.

Both functions turn a price cell into the canonical `1249.00` that `money.to_minor_units`
reads: `amount_expr` for the vectorized path, `canonical_amount` (the reference, with the
reasons) for the rows the vectorized path could not parse. With the defaults (`.`, none)
the text is passed through unchanged, so `money` keeps its own rules (`1,234.50` is accepted).

Thousands separators count only when they group digits by three (`1.249,00`, `12 500,5`):
`12.50` in a file whose decimal separator is `,` is refused, never read as 12.5 or 1250.
"""

from __future__ import annotations

import re

import polars as pl

from catalog_pipelines.money import MoneyError

# what groups thousands in files whose decimal separator is ",", unless the mapping says
_COMMA_DECIMAL_GROUPS = (".", " ", "\u00a0", "\u202f", "'")
_REGEX_LITERAL = {".": r"\.", ",": ","}


def _separators(decimal: str, thousands: str | None) -> tuple[str, ...]:
    if thousands is not None:
        return (thousands,)
    return _COMMA_DECIMAL_GROUPS if decimal == "," else ()


def _grouped_pattern(decimal: str, seps: tuple[str, ...]) -> str:
    group = "[" + "".join(_REGEX_LITERAL.get(s, s) for s in seps) + "]"
    return rf"^[0-9]{{1,3}}(?:{group}[0-9]{{3}})+(?:{_REGEX_LITERAL[decimal]}[0-9]+)?$"


def is_default(decimal: str, thousands: str | None) -> bool:
    return decimal == "." and thousands is None


def canonical_amount(text: str, decimal: str, thousands: str | None) -> str:
    """`1.249,00` (decimal ",") -> `1249.00`; MoneyError naming the separators otherwise."""
    if is_default(decimal, thousands):
        return text
    seps = _separators(decimal, thousands)
    value = text.strip()
    if re.match(_grouped_pattern(decimal, seps), value):
        for s in seps:
            value = value.replace(s, "")
    other = "." if decimal == "," else ","
    stray = any(s in value for s in (*seps, *_COMMA_DECIMAL_GROUPS[1:]))
    if stray or (decimal == "," and other in value):
        shown = f" and thousands separator {thousands!r}" if thousands else ""
        raise MoneyError(
            f"{text!r} does not fit the mapping's decimal separator {decimal!r}{shown}"
            " (thousands must be grouped by three)"
        )
    return value.replace(",", ".") if decimal == "," else value


def amount_expr(column: pl.Expr, decimal: str, thousands: str | None) -> pl.Expr:
    """`canonical_amount` over a column; null where that function would raise."""
    if is_default(decimal, thousands):
        return column
    seps = _separators(decimal, thousands)
    value = column.str.strip_chars()
    grouped = value.str.contains(_grouped_pattern(decimal, seps))
    plain = value.str.contains(rf"^[0-9]+(?:{_REGEX_LITERAL[decimal]}[0-9]+)?$")
    if len(seps) == 1:  # a literal replace is much cheaper than a regex one
        removed = value.str.replace_all(seps[0], "", literal=True)
    else:
        removed = value.str.replace_all(
            "[" + "".join(_REGEX_LITERAL.get(c, c) for c in seps) + "]", ""
        )
    digits = pl.when(grouped).then(removed).otherwise(value)
    canonical = digits.str.replace(",", ".", literal=True) if decimal == "," else digits
    # anything else (a stray separator, a sign, a letter) takes the reference path for its reason
    return pl.when(grouped | plain).then(canonical).otherwise(None)
