"""Row selection: leave a frame as it is when every row is selected, copy it when few are."""

from __future__ import annotations

import io

import polars as pl


def rows_where(frame: pl.DataFrame, predicate: pl.Expr | pl.Series | str) -> pl.DataFrame:
    """`frame.filter(predicate)`, or `frame` itself when every row passes. A filter copies
    every column even then, and a first import's rows all pass most filters: their text is
    most of its memory. Null selects nothing, as in a filter."""
    mask = predicate if isinstance(predicate, pl.Series) else frame.select(predicate).to_series()
    mask = mask.fill_null(False)
    return frame if mask.all() else frame.filter(mask)


def compacted(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy of `frame` that owns its buffers: a filtered frame still points into its
    source's string buffers, so a few rows kept of each piece read would keep every piece."""
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    buffer.seek(0)
    return pl.read_ipc(buffer)
