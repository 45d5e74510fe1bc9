"""Row selection that leaves a frame as it is when every row is selected."""

from __future__ import annotations

import polars as pl


def rows_where(frame: pl.DataFrame, predicate: pl.Expr | pl.Series | str) -> pl.DataFrame:
    """`frame.filter(predicate)`, or `frame` itself when every row passes. A filter copies
    every column even then, and a first import's rows all pass most filters: their text is
    most of its memory. Null selects nothing, as in a filter."""
    mask = predicate if isinstance(predicate, pl.Series) else frame.select(predicate).to_series()
    mask = mask.fill_null(False)
    return frame if mask.all() else frame.filter(mask)
