"""rows_where: a filter that hands back the frame itself when every row passes."""

from __future__ import annotations

import polars as pl

from catalog_pipelines.frames import rows_where


def test_every_row_passing_returns_the_same_frame_not_a_copy() -> None:
    frame = pl.DataFrame({"a": [1, 2, 3], "ok": [True, True, True]})
    assert rows_where(frame, "ok") is frame
    assert rows_where(frame, pl.col("a") > 0) is frame


def test_otherwise_it_filters_and_null_selects_nothing() -> None:
    frame = pl.DataFrame({"a": [1, 2, 3, 4], "ok": [True, None, False, True]})
    assert rows_where(frame, "ok")["a"].to_list() == [1, 4]
    assert rows_where(frame, pl.Series([False, True, None, True]))["a"].to_list() == [2, 4]
    empty = frame.clear()
    assert rows_where(empty, "ok").height == 0
