"""Which rows of a piece a reader may leave behind as maybe unchanged (skip_decision.py): those
whose product, as printed in the piece, is what the last import saw."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from catalog_pipelines.fingerprints import (
    KEY,
    known_from,
    product_fingerprints,
    row_prints,
)
from catalog_pipelines.normalized import ROW_NUMBER
from catalog_pipelines.skip_decision import _is_valid, bucketed, maybe_skipped, valid_prints
from catalog_pipelines.spill import Spill

LAST_FILE = [("A", "1"), ("B", "1"), ("B", "2"), ("C", "1"), ("C", "2")]


def _prints(rows: list[tuple[str | None, str]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "key": [k for k, _ in rows],
            "cell": [c for _, c in rows],
            ROW_NUMBER: list(range(1, len(rows) + 1)),
        },
        schema={"key": pl.Utf8, "cell": pl.Utf8, ROW_NUMBER: pl.Int64},
    )
    return row_prints(frame, "key", None)


def _snapshot() -> pl.DataFrame:
    last = product_fingerprints(_prints(LAST_FILE).select(KEY, "_h"))
    return last.with_columns(
        pl.format("prod_{}", KEY).alias("product_id"),
        pl.lit(1, dtype=pl.UInt32).alias("prices"),
        pl.lit(1, dtype=pl.UInt32).alias("items"),
    )


def _left_behind(piece: list[tuple[str | None, str]]) -> list[bool]:
    valid = valid_prints(known_from(_snapshot(), salt="s", since=None))
    return maybe_skipped(_prints(piece), valid).to_list()


@pytest.mark.parametrize("ranges", [1, 3])
def test_a_second_reader_of_the_same_snapshot_searches_the_same_prints(ranges: int) -> None:
    # the first reader takes the prints gathered as the snapshot was read; a second one (a
    # reader that starts over) must not find none, or it would keep every row
    spill = Spill() if ranges > 1 else None
    known = known_from(
        _snapshot(), salt="s", since=None, touched=frozenset({"prod_C"}), ranges=ranges, spill=spill
    )
    first, second = valid_prints(known), valid_prints(known)
    assert first.prints.size == 2  # A and B; C was changed since
    assert np.array_equal(first.prints, second.prints)
    assert np.array_equal(first.starts, second.starts)


def test_a_product_whose_rows_in_the_piece_are_what_it_was_is_left_behind() -> None:
    assert _left_behind([("A", "1"), ("B", "1"), ("B", "2")]) == [True, True, True]


def test_a_changed_row_keeps_every_row_of_its_product() -> None:
    assert _left_behind([("A", "9"), ("B", "1"), ("B", "9")]) == [False, False, False]


def test_a_product_grown_in_the_piece_is_kept() -> None:
    assert _left_behind([("C", "1"), ("C", "2"), ("C", "3")]) == [False, False, False]


def test_part_of_a_product_is_kept_unless_it_was_the_whole_product() -> None:
    # B's first row alone prints otherwise than B; C's old rows beside no other row of C
    # print as C did, so they are left behind (a row of C in the next piece brings them back)
    assert _left_behind([("B", "1"), ("C", "1"), ("C", "2")]) == [False, True, True]


def test_a_row_without_a_key_is_kept() -> None:
    assert _left_behind([(None, "1"), ("A", "1")]) == [False, True]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1_000, 100_000])
def test_a_print_is_found_exactly_when_it_is_among_the_valid_ones(size: int) -> None:
    """The bucketed search answers as a set would, for prints at either end of the range and
    buckets left empty or crowded."""
    rng = np.random.default_rng(size)
    top = np.iinfo(np.uint64).max
    prints = rng.integers(0, top, size, dtype=np.uint64, endpoint=True)
    prints[: min(size, 2)] = [0, top][: min(size, 2)]  # both ends
    if size > 10:  # a crowded bucket: neighbours of one print
        prints[-5:] = prints[5] + np.arange(1, 6, dtype=np.uint64)
    prints.sort()
    beside = prints[prints < top] + np.uint64(1)
    needles = np.concatenate([prints, rng.integers(0, top, 5_000, dtype=np.uint64), beside])
    found = _is_valid(needles, bucketed(prints))
    valid = set(prints.tolist())
    assert found.tolist() == [n in valid for n in needles.tolist()]
